// The only module that talks to the API (the only `fetch` in the frontend).
// Every failure becomes an ApiError: HTTP errors carry the RFC 9457 problem body,
// a network failure has status 0.
//
// It also keeps the session: the access token lives here and nowhere else, goes out as
// `Authorization: Bearer ...` on every call, and a 401 on a signed-in call (expired or revoked token)
// clears it and sends the person to the sign-in page, which brings them back to the same URL.

import { API_BASE_URL } from "./config.js";

const BASE_URL = API_BASE_URL.replace(/\/+$/, "");

export class ApiError extends Error {
  /**
   * @param {string} message  human readable, safe to show to the user
   * @param {{status?: number, problem?: object|null, retryAfter?: number|null}} [options]
   */
  constructor(message, { status = 0, problem = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.fieldErrors = fieldErrorsFrom(problem);
    this.retryAfter = retryAfter; // seconds, from the Retry-After header of a 429
  }

  get isNetworkError() {
    return this.status === 0;
  }

  get isNotFound() {
    return this.status === 404;
  }
}

// ---------------------------------------------------------------------------
// Field errors in plain words. The API's 422 lists Pydantic's errors ({loc, msg, type}); the pages show a
// sentence per field built from `loc` (which field) and `type` (what is wrong), never `loc` itself
// ("body.title") nor Pydantic's own `msg`. The one thing taken from `msg` is a limit's number.

// How the pages name the API's fields.
export const FIELD_LABELS = {
  title: "Title",
  service: "Service",
  severity: "Severity",
  status: "Status",
  description: "Description",
  text: "Note",
  commander_id: "Commander",
  commander: "Commander",
  username: "Email",
  email: "Email",
  password: "Password",
  display_name: "Name",
  role: "Role",
  is_active: "Active",
};

// Fields chosen from a list: "Choose a severity" rather than "Severity is required".
const CHOICE_FIELDS = new Set(["severity", "status", "role", "commander_id", "commander"]);

/** "commander_id" -> "Commander", "display_name" -> "Name", "due_at" -> "Due at". */
export function fieldLabel(field) {
  if (FIELD_LABELS[field]) return FIELD_LABELS[field];
  const words = String(field).replace(/_id$/, "").replace(/[_-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "";
}

function limitFrom(message) {
  const match = /(\d[\d,]*)/.exec(String(message ?? ""));
  return match ? Number(match[1].replace(/,/g, "")) : null;
}

function characters(count) {
  return `${count.toLocaleString("en")} ${count === 1 ? "character" : "characters"}`;
}

/**
 * One error of a 422 ({loc, msg, type}) as a sentence: "Title must be at most 200 characters.",
 * "Choose a severity.". An error of no field, or of a kind not known here, still gets a readable sentence.
 */
export function errorSentence(field, error = {}) {
  const label = fieldLabel(field);
  const type = String(error.type ?? "");
  const limit = limitFrom(error.msg);
  if (!label || field === "body") {
    if (type === "json_invalid") return "The page sent something the server could not read. Reload the page and try again.";
    return "Something in the form is not valid. Check it and try again.";
  }
  const choice = CHOICE_FIELDS.has(field);
  const article = /^[aeiou]/i.test(label) ? "an" : "a";
  switch (type) {
    case "missing":
      return choice ? `Choose ${article} ${label.toLowerCase()}.` : `${label} is required.`;
    case "string_too_long":
    case "too_long":
      return limit === null ? `${label} is too long.` : `${label} must be at most ${characters(limit)}.`;
    case "string_too_short":
    case "too_short":
      return limit === null || limit <= 1 ? `${label} is required.` : `${label} must be at least ${characters(limit)}.`;
    case "string_blank":
      return `${label} cannot be blank.`;
    case "string_control_character":
    case "string_invisible_character":
      return `${label} contains an invisible or control character. Remove it (retyping the text helps).`;
    case "enum":
    case "literal_error":
      return choice ? `Choose ${article} ${label.toLowerCase()} from the list.` : `${label} must be one of the listed choices.`;
    case "greater_than_equal":
    case "greater_than":
      return limit === null ? `${label} is too small.` : `${label} must be at least ${limit.toLocaleString("en")}.`;
    case "less_than_equal":
    case "less_than":
      return limit === null ? `${label} is too large.` : `${label} must be at most ${limit.toLocaleString("en")}.`;
    case "extra_forbidden":
      return `${label} cannot be set here.`;
    case "value_error":
      return field === "email" || field === "username" ? "Enter a valid email address." : `${label} is not valid. Check it and try again.`;
    default:
      if (choice) return `Choose ${article} ${label.toLowerCase()}.`;
      return `${label} is not valid. Check it and try again.`;
  }
}

/**
 * Turn a problem body's `errors` into {field: sentence}; the field is the last name in `loc`
 * (["body", "title"] -> "title"; ["body"] -> "body"). Several sentences for one field are joined.
 */
export function fieldErrorsFrom(problem) {
  const fields = {};
  const errors = problem && Array.isArray(problem.errors) ? problem.errors : [];
  for (const error of errors) {
    const loc = Array.isArray(error?.loc) ? error.loc : [];
    const names = loc.filter((part) => typeof part === "string");
    const field = names.length > 0 ? names[names.length - 1] : "";
    const sentence = errorSentence(field, error ?? {});
    if (fields[field]?.includes(sentence)) continue;
    fields[field] = fields[field] ? `${fields[field]} ${sentence}` : sentence;
  }
  return fields;
}

// What the pages say when the API cannot be reached: what to do, not where the API is.
export const UNREACHABLE_MESSAGE =
  "Cannot reach the Incident Tracker server. Check your connection and try again; if it keeps happening, the server may be down: tell whoever runs it.";

/** Build a query string; array values become repeated parameters, empty values are left out. */
export function toQueryString(params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") {
        query.append(name, String(item));
      }
    }
  }
  const text = query.toString();
  return text ? `?${text}` : "";
}

// ---------------------------------------------------------------------------
// The session: one token, kept here only.
//
// localStorage, not sessionStorage: a link opened in a new tab (or the browser restarted) stays signed in,
// as people expect of a work tool; the token's own lifetime (`expires_in`, hours) still ends the session.
// The price is that any script running on our origin could read it, so the pages never put API data into
// the DOM as markup (see dom.js) and the CSP of scripts/serve_web.py allows our own scripts only.

export const TOKEN_KEY = "incident-tracker:session";
// Set just before an expired session is sent to sign in, so the sign-in page can say why.
export const EXPIRED_KEY = "incident-tracker:session-expired";

let mePromise = null; // GET /api/auth/me, once per page load
let ranOut = false; // a token was found past its lifetime (and forgotten) on this page

const storage = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null; // storage disabled: signed out
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      // storage disabled: this page still works until it is left
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // nothing stored
    }
  },
};

/**
 * The stored token, or null when there is none or it has expired. The expiry is measured on this
 * browser's own clock from `expires_in` (no clock skew); the API stays the judge of validity.
 */
export function getToken() {
  let saved = null;
  try {
    saved = JSON.parse(storage.get(TOKEN_KEY) ?? "null");
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.access_token !== "string" || !saved.access_token) return null;
  if (typeof saved.expires_at === "number" && saved.expires_at <= Date.now()) {
    clearToken();
    ranOut = true;
    return null;
  }
  return saved.access_token;
}

function saveToken({ access_token: accessToken, expires_in: expiresIn }) {
  const expiresAt = Number.isFinite(expiresIn) ? Date.now() + expiresIn * 1000 : null;
  storage.set(TOKEN_KEY, JSON.stringify({ access_token: accessToken, expires_at: expiresAt }));
}

export function clearToken() {
  storage.remove(TOKEN_KEY);
  mePromise = null;
}

export function isSignedIn() {
  return getToken() !== null;
}

// ---------------------------------------------------------------------------
// Going to the sign-in page, and back

const PAGES = ["index.html", "create.html", "detail.html", "users.html", "audit.html", "metrics.html"];

/** This page's path and query ("/detail.html?id=5"): where sign-in brings the person back. */
export function currentPageUrl() {
  return `${location.pathname}${location.search}`;
}

export function loginUrl(next = currentPageUrl()) {
  return `login.html?next=${encodeURIComponent(next)}`;
}

/**
 * Where to go after signing in: `next` if it is a relative path to one of our pages on this origin
 * (in the same folder as the sign-in page), else index.html. Returns a path with its query and hash.
 */
export function safeNext(next, base = location.href) {
  const fallback = "index.html";
  if (typeof next !== "string" || next === "" || next.length > 2000) return fallback;
  // Relative only: no scheme ("https:", "javascript:"), no protocol-relative "//host", no backslashes
  // (browsers read "/\host" as "//host"), no control characters.
  if (/^[a-z][a-z\d+.-]*:/i.test(next) || next.startsWith("//") || /[\\\u0000-\u001f\u007f]/.test(next)) {
    return fallback;
  }
  let url;
  let baseUrl;
  try {
    baseUrl = new URL(base);
    url = new URL(next, baseUrl);
  } catch {
    return fallback;
  }
  const folder = baseUrl.pathname.slice(0, baseUrl.pathname.lastIndexOf("/") + 1);
  const name = url.pathname.startsWith(folder) ? url.pathname.slice(folder.length) : null;
  if (url.origin !== baseUrl.origin || name === null || !(name === "" || PAGES.includes(name))) {
    return fallback;
  }
  return `${url.pathname}${url.search}${url.hash}`;
}

const expiryHandlers = [];
let leaving = false;

/**
 * `handler()` runs just before an expired session leaves the page for the sign-in page: the place to
 * keep unsaved form values (in sessionStorage) so they can be restored on the way back.
 */
export function onSessionExpired(handler) {
  expiryHandlers.push(handler);
}

/**
 * The session ended while the page was open (the API refused the token, or it is gone: it ran out, or the
 * person signed out in another tab): forget it, let the page keep its drafts, and go to sign in (once).
 */
function sessionExpired() {
  clearToken();
  if (leaving) return;
  leaving = true;
  for (const handler of expiryHandlers) {
    try {
      handler();
    } catch {
      // a failed draft must not keep the person on a page that cannot work
    }
  }
  try {
    sessionStorage.setItem(EXPIRED_KEY, "1");
  } catch {
    // only changes the sign-in page's wording
  }
  location.replace(loginUrl());
}

/** The live connection was refused its token (closed with 4401): the same as a 401 on a call. */
export function liveSessionExpired() {
  sessionExpired();
}

/** Signed out when the page opens: go to sign in now, coming back here afterwards. */
export function redirectToLogin() {
  if (leaving) return;
  leaving = true;
  if (ranOut) {
    try {
      sessionStorage.setItem(EXPIRED_KEY, "1");
    } catch {
      // only changes the sign-in page's wording
    }
  }
  location.replace(loginUrl());
}

/** Sign out: forget the token and go to the sign-in page. */
export function signOut() {
  clearToken();
  leaving = true;
  location.assign("login.html");
}

// A promise that never settles: what a call answers while the page is on its way to the sign-in page,
// so that no error flashes up and busy buttons stay busy until the page is gone.
const NEVER = new Promise(() => {});

// ---------------------------------------------------------------------------
// Requests

// The one place where request headers are built.
function buildHeaders({ json = false, form = false, auth = true, extra = {} } = {}) {
  const headers = { Accept: "application/json, application/problem+json", ...extra };
  if (json) headers["Content-Type"] = "application/json";
  if (form) headers["Content-Type"] = "application/x-www-form-urlencoded";
  const token = auth ? getToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

async function readJson(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) {
    return null;
  }
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function retryAfterSeconds(response) {
  const value = response.headers.get("Retry-After");
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value); // the HTTP-date form
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/**
 * One API call. `auth: false` for the sign-in itself: no token is sent and a 401 is an ordinary error
 * (wrong password) instead of an expired session. `form` sends URL-encoded fields instead of JSON.
 */
async function request(method, path, { query, body, form, signal, auth = true, headers = {} } = {}) {
  if (auth && getToken() === null) {
    sessionExpired(); // the token is gone: no point asking the API
    return NEVER;
  }
  const url = `${BASE_URL}${path}${toQueryString(query)}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: buildHeaders({ json: body !== undefined, form: form !== undefined, auth, extra: headers }),
      body: form !== undefined ? new URLSearchParams(form) : body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") {
      throw error; // the caller cancelled it; not a failure to report
    }
    throw new ApiError(UNREACHABLE_MESSAGE);
  }

  if (response.status === 401 && auth) {
    sessionExpired();
    return NEVER;
  }
  const data = response.status === 204 ? null : await readJson(response);
  if (!response.ok) {
    throw new ApiError(failureMessage(response, data), {
      status: response.status,
      problem: data,
      retryAfter: retryAfterSeconds(response),
    });
  }
  return data;
}

/** The sentence for a failed call: the problem's own detail, except where it names fields the API's way. */
function failureMessage(response, data) {
  if (response.status === 422 && data && Array.isArray(data.errors) && data.errors.length > 0) {
    return data.errors.some((error) => error?.type === "json_invalid")
      ? errorSentence("body", { type: "json_invalid" })
      : `Some values need changing. ${Object.values(fieldErrorsFrom(data)).join(" ")}`;
  }
  const detail = data && (data.detail || data.title);
  if (typeof detail === "string" && detail) return detail;
  if (response.status >= 500) {
    return "The Incident Tracker server ran into a problem. Try again in a moment; if it keeps happening, tell whoever runs it.";
  }
  return `The server answered ${response.status} ${response.statusText}`.trim() + ".";
}


// ---------------------------------------------------------------------------
// Accounts

/**
 * POST /api/auth/token (the OAuth2 password form: username=<email>, password). Keeps the token and
 * resolves to it; a wrong password is an ApiError 401, too many failures a 429 with `retryAfter`.
 */
export async function signIn(email, password) {
  const token = await request("POST", "/api/auth/token", { form: { username: email, password }, auth: false });
  saveToken(token);
  mePromise = null;
  return token;
}

/** GET /api/auth/me, asked once per page load: {id, email, display_name, role}. */
export function getMe() {
  if (!mePromise) {
    mePromise = request("GET", "/api/auth/me");
    mePromise.catch(() => {
      mePromise = null; // a failure (API down) may be retried
    });
  }
  return mePromise;
}

// ---------------------------------------------------------------------------
// Incidents

/**
 * GET /api/incidents/ with {page, limit, search, severity: [], status: [], sort_by, sort_order, archived}.
 * Resolves to {items, total, page, limit, pages}.
 */
export function listIncidents(params = {}, { signal } = {}) {
  return request("GET", "/api/incidents/", { query: params, signal });
}

/** GET one incident; `archived: true` (admins) also finds an archived one. */
export function getIncident(id, { archived = false, signal } = {}) {
  return request("GET", `/api/incidents/${encodeURIComponent(id)}`, {
    query: { archived: archived ? "true" : undefined },
    signal,
  });
}

/**
 * A fresh Idempotency-Key: sent again with a retry of the same request, so that the API answers it once.
 * crypto.randomUUID() needs a secure context (https or localhost); elsewhere 128 random bits in hex.
 */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function idempotencyHeaders(key) {
  return key ? { "Idempotency-Key": key } : {};
}

/** POST a new incident; the same `idempotencyKey` on a retry never makes a second one. */
export function createIncident(data, { idempotencyKey } = {}) {
  return request("POST", "/api/incidents/", { body: data, headers: idempotencyHeaders(idempotencyKey) });
}

/**
 * PATCH only the fields in `patch`, against the incident's `version` the reader saw (If-Match). Someone
 * else's save in between: an ApiError 412 whose `problem.current` is the incident as it is now.
 */
export function updateIncident(id, patch, { version } = {}) {
  return request("PATCH", `/api/incidents/${encodeURIComponent(id)}`, { body: patch, headers: ifMatch(version) });
}

function ifMatch(version) {
  return version === undefined || version === null ? {} : { "If-Match": `"${version}"` };
}

/** Archive (admins): DELETE keeps the incident and its history, hidden from everyone but admins. */
export function archiveIncident(id, { version } = {}) {
  return request("DELETE", `/api/incidents/${encodeURIComponent(id)}`, { headers: ifMatch(version) });
}

export function restoreIncident(id, { version } = {}) {
  return request("POST", `/api/incidents/${encodeURIComponent(id)}/restore`, { headers: ifMatch(version) });
}

/** One page of the incident's timeline, oldest first: {items, total, page, limit, pages}. */
export function listEvents(id, { page = 1, limit = 100, archived = false, signal } = {}) {
  return request("GET", `/api/incidents/${encodeURIComponent(id)}/events`, {
    query: { page, limit, archived: archived ? "true" : undefined },
    signal,
  });
}

/** The whole timeline, page after page. */
export async function listAllEvents(id, { archived = false, signal } = {}) {
  const events = [];
  for (let page = 1; ; page += 1) {
    const data = await listEvents(id, { page, archived, signal });
    events.push(...(data.items ?? []));
    if (page >= (data.pages ?? 1) || (data.items ?? []).length === 0) return events;
  }
}

/** Active people ({id, display_name}) by name: who can be commander. `search` narrows by name. */
export function listPeople({ search, limit = 100, signal } = {}) {
  return request("GET", "/api/people", { query: { search, limit }, signal });
}

/** POST a note; the same `idempotencyKey` on a retry never adds it twice. */
export function addNote(id, text, { idempotencyKey } = {}) {
  return request("POST", `/api/incidents/${encodeURIComponent(id)}/notes`, {
    body: { text },
    headers: idempotencyHeaders(idempotencyKey),
  });
}

/**
 * GET /api/metrics with {from, to (ISO 8601 with offset), service, severity: []}: open incidents now by severity,
 * created and resolved per week, median and p90 time to mitigate and to resolve.
 */
export function getMetrics(params = {}, { signal } = {}) {
  return request("GET", "/api/metrics", { query: params, signal });
}

export function health({ signal } = {}) {
  return request("GET", "/api/health", { signal, auth: false });
}

// ---------------------------------------------------------------------------
// Accounts and the audit log (admins)

/** GET /api/users {page, limit}: {items, total, page, limit, pages}, oldest account first. */
export function listUsers(params = {}, { signal } = {}) {
  return request("GET", "/api/users", { query: params, signal });
}

/** POST /api/users {email, display_name, role, password}; an email taken is an ApiError 409. */
export function createUser(data) {
  return request("POST", "/api/users", { body: data });
}

/** PATCH /api/users/{id} with any of {display_name, role, password, is_active}; the last active admin: 409. */
export function updateUser(id, patch) {
  return request("PATCH", `/api/users/${encodeURIComponent(id)}`, { body: patch });
}

/** GET /api/audit {page, limit, actor_id, incident_id, action: [], since, until}: newest first. */
export function listAudit(params = {}, { signal } = {}) {
  return request("GET", "/api/audit", { query: params, signal });
}

// ---------------------------------------------------------------------------
// CSV export

/**
 * POST /api/download-tickets: a ticket to download `path?query` once, within a minute, without the access
 * token in the URL. Resolves to {ticket, url, expires_at, expires_in}; a refusal (403, 422) is an ApiError.
 */
export function createDownloadTicket(path, query) {
  return request("POST", "/api/download-tickets", { body: { path, query } });
}

// ---------------------------------------------------------------------------
// The live feed (live.js opens it; this is where its address comes from)

/** ws(s)://<the API's host>/api/live: the API base with its scheme swapped. */
export function liveUrl() {
  return `${BASE_URL.replace(/^http/i, "ws")}/api/live`;
}

/** The absolute address of a path the API answered (a ticketed download's `url`). */
export function apiUrl(path) {
  return `${BASE_URL}${path}`;
}
