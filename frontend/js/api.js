// The only module that talks to the API (the only `fetch` in the frontend).
// Every failure becomes an ApiError: HTTP errors carry the RFC 9457 problem body,
// a network failure has status 0.

import { API_BASE_URL } from "./config.js";

const BASE_URL = API_BASE_URL.replace(/\/+$/, "");

export class ApiError extends Error {
  /**
   * @param {string} message  human readable, safe to show to the user
   * @param {{status?: number, problem?: object|null}} [options]
   */
  constructor(message, { status = 0, problem = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.fieldErrors = fieldErrorsFrom(problem);
  }

  get isNetworkError() {
    return this.status === 0;
  }

  get isNotFound() {
    return this.status === 404;
  }
}

/**
 * Turn a problem body's `errors` into {field: message}; the field is the last element
 * of `loc` (["body", "title"] -> "title"). Several messages for one field are joined.
 */
export function fieldErrorsFrom(problem) {
  const fields = {};
  const errors = problem && Array.isArray(problem.errors) ? problem.errors : [];
  for (const error of errors) {
    const loc = Array.isArray(error.loc) ? error.loc : [];
    const field = loc.length > 0 ? String(loc[loc.length - 1]) : "";
    const message = String(error.msg ?? "Invalid value");
    fields[field] = fields[field] ? `${fields[field]} ${message}` : message;
  }
  return fields;
}

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

// The one place to add request headers (for example `Authorization: Bearer ...` later).
function buildHeaders(hasBody) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (hasBody) {
    headers["Content-Type"] = "application/json";
  }
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

async function request(method, path, { query, body, signal } = {}) {
  const url = `${BASE_URL}${path}${toQueryString(query)}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: buildHeaders(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") {
      throw error; // the caller cancelled it; not a failure to report
    }
    throw new ApiError(`Cannot reach the API at ${BASE_URL}. Check that it is running.`);
  }

  const data = response.status === 204 ? null : await readJson(response);
  if (!response.ok) {
    const detail = data && (data.detail || data.title);
    const message =
      typeof detail === "string" && detail
        ? detail
        : `The API answered ${response.status} ${response.statusText}`.trim();
    throw new ApiError(message, { status: response.status, problem: data });
  }
  return data;
}

/**
 * GET /api/incidents/ with {page, limit, search, severity: [], status: [], sort_by, sort_order}.
 * Resolves to {items, total, page, limit, pages}.
 */
export function listIncidents(params = {}, { signal } = {}) {
  return request("GET", "/api/incidents/", { query: params, signal });
}

export function getIncident(id, { signal } = {}) {
  return request("GET", `/api/incidents/${encodeURIComponent(id)}`, { signal });
}

export function createIncident(data) {
  return request("POST", "/api/incidents/", { body: data });
}

/** PATCH only the fields in `patch`. */
export function updateIncident(id, patch) {
  return request("PATCH", `/api/incidents/${encodeURIComponent(id)}`, { body: patch });
}

export function health({ signal } = {}) {
  return request("GET", "/api/health", { signal });
}
