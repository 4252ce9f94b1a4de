// The list page's state and its query string (pure functions, no DOM).
// The names are the API's own (archived, search, severity, status, commander, sort_by, sort_order, page, limit,
// cursor) plus `view`, the named view (Active, All, Resolved) that stands for a set of statuses and a sort.

import { SEVERITIES, STATUSES, parseApiDate, session } from "./dom.js";

// The list's last query string, so that "Back to incidents" returns to the list as it was left.
const LIST_QUERY_KEY = "incident-tracker:list-query";

export function rememberListQuery(query) {
  session.set(LIST_QUERY_KEY, query);
}

/** "index.html?severity=SEV1..." as the list was last shown in this tab (the archived view included). */
export function listPageUrl() {
  const query = session.get(LIST_QUERY_KEY) ?? "";
  return `index.html${query.startsWith("?") ? query : ""}`;
}

export const PAGE_SIZES = [10, 20, 50, 100];
export const SORT_FIELDS = ["id", "title", "service", "severity", "status", "commander", "created_at", "updated_at"];
export const COMMANDER_FILTERS = ["me", "none"]; // or a user's id

// The named views: which statuses they show and in which order. The severity, commander and search filters go
// with any view. "active" is the default (a bare index.html); a state that matches no view is "custom".
export const VIEWS = Object.freeze({
  // Most severe first; SEV1..SEV4 sort as text, and equal severities by id in the same direction: oldest first.
  active: Object.freeze({ label: "Active", status: ["OPEN", "MITIGATED"], sort_by: "severity", sort_order: "asc" }),
  all: Object.freeze({ label: "All", status: [], sort_by: "created_at", sort_order: "desc" }),
  resolved: Object.freeze({ label: "Resolved", status: ["RESOLVED"], sort_by: "created_at", sort_order: "desc" }),
});
export const VIEW_NAMES = [...Object.keys(VIEWS), "custom"];
export const DEFAULT_VIEW = "active";
// The archive (admins) is looked through rather than triaged: it opens on All.
export const DEFAULT_ARCHIVED_VIEW = "all";

/** The view a bare address shows: Active, or All in the archived view. */
export function defaultView(archived) {
  return archived ? DEFAULT_ARCHIVED_VIEW : DEFAULT_VIEW;
}
// What a custom view starts from when the address leaves its statuses or sort out: everything, newest first.
const CUSTOM_BASE = Object.freeze({ status: [], sort_by: "created_at", sort_order: "desc" });

export const DEFAULT_STATE = Object.freeze({
  view: DEFAULT_VIEW, // derived from status and sort (viewOf), never set on its own
  archived: false, // admins: the archived incidents instead of the live ones
  search: "",
  severity: [],
  status: [...VIEWS.active.status],
  commander: "", // "", "me", "none" or a user's id (as text)
  sort_by: VIEWS.active.sort_by,
  sort_order: VIEWS.active.sort_order,
  page: 1,
  limit: 20,
  // The API's next_cursor of the page before, when "Next" led here: the same rows as `page`, read by keyset
  // (cheap at any depth). Opaque; any other change of the view drops it.
  cursor: null,
});

// What a cursor the API hands out looks like (URL-safe base64); anything else in the address is ignored.
const CURSOR = /^[A-Za-z0-9_-]{1,1024}$/;
const USER_ID = /^[1-9]\d{0,9}$/;

function positiveInt(text, fallback) {
  return /^\d+$/.test(text ?? "") && Number(text) >= 1 ? Number(text) : fallback;
}

/** Keep the known values, each once, in their canonical order. */
function pick(values, allowed) {
  return allowed.filter((value) => values.includes(value));
}

function sameList(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** The named view whose statuses and sort `state` has ("active", "all", "resolved"), else "custom". */
export function viewOf(state) {
  const found = Object.entries(VIEWS).find(
    ([, view]) =>
      sameList(view.status, state.status) && view.sort_by === state.sort_by && view.sort_order === state.sort_order,
  );
  return found ? found[0] : "custom";
}

/** The changes that switch `state` to the view `name`: its statuses and sort, from the first page. */
export function viewChanges(name) {
  const view = VIEWS[name];
  if (!view) throw new RangeError(`Unknown view: ${name}`);
  return { status: [...view.status], sort_by: view.sort_by, sort_order: view.sort_order, page: 1 };
}

/** The changes of the "Show archived" switch: the archive opens on All, the live list on Active. */
export function archivedChanges(archived) {
  return { archived, ...viewChanges(defaultView(archived)) };
}

function commanderFrom(text) {
  const value = (text ?? "").trim();
  return COMMANDER_FILTERS.includes(value) || USER_ID.test(value) ? value : "";
}

/**
 * Read the state from a query string ("?view=all&search=db&severity=SEV1"); unknown or bad values fall back to
 * defaults. The view (none: Active, or All with archived=true) gives the statuses and sort that the address leaves
 * out.
 */
export function stateFromQuery(query) {
  const params = new URLSearchParams(query);
  const archived = ["true", "1"].includes(params.get("archived") ?? "");
  const named = params.get("view");
  const base = VIEWS[named] ?? (named === "custom" ? CUSTOM_BASE : VIEWS[defaultView(archived)]);
  const sortBy = params.get("sort_by");
  const sortOrder = params.get("sort_order");
  const limit = positiveInt(params.get("limit"), DEFAULT_STATE.limit);
  const state = {
    view: DEFAULT_VIEW,
    archived,
    search: (params.get("search") ?? "").trim(),
    severity: pick(params.getAll("severity"), SEVERITIES),
    status: params.has("status") ? pick(params.getAll("status"), STATUSES) : [...base.status],
    commander: commanderFrom(params.get("commander")),
    sort_by: SORT_FIELDS.includes(sortBy) ? sortBy : base.sort_by,
    sort_order: sortOrder === "asc" || sortOrder === "desc" ? sortOrder : base.sort_order,
    page: positiveInt(params.get("page"), DEFAULT_STATE.page),
    limit: PAGE_SIZES.includes(limit) ? limit : DEFAULT_STATE.limit,
    cursor: CURSOR.test(params.get("cursor") ?? "") ? params.get("cursor") : null,
  };
  return { ...state, view: viewOf(state) };
}

/**
 * The query string for a state ("" or "?..."); default values are left out to keep links short. A named view
 * stands for its statuses and sort ("?view=resolved"; Active is the bare page); a custom one spells them out.
 */
export function stateToQuery(state) {
  const params = new URLSearchParams();
  const view = viewOf(state);
  if (view !== defaultView(state.archived)) params.set("view", view);
  if (state.archived) params.set("archived", "true");
  if (state.search) params.set("search", state.search);
  for (const value of state.severity) params.append("severity", value);
  if (view === "custom") {
    for (const value of state.status) params.append("status", value);
  }
  if (state.commander) params.set("commander", state.commander);
  if (view === "custom" && (state.sort_by !== CUSTOM_BASE.sort_by || state.sort_order !== CUSTOM_BASE.sort_order)) {
    params.set("sort_by", state.sort_by);
    params.set("sort_order", state.sort_order);
  }
  if (state.page !== DEFAULT_STATE.page) params.set("page", String(state.page));
  if (state.limit !== DEFAULT_STATE.limit) params.set("limit", String(state.limit));
  if (state.cursor) params.set("cursor", state.cursor);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * How many filters narrow the list beyond its view, for the "Filters (N)" button: the search, the severities,
 * the commander, and the statuses when no named view sets them.
 */
export function activeFilterCount(state) {
  return [
    Boolean(state.search),
    state.severity.length > 0,
    Boolean(state.commander),
    viewOf(state) === "custom" && state.status.length > 0,
  ].filter(Boolean).length;
}

/** The changes of "Clear filters": no search, severity or commander; the statuses of the view (custom: none). */
export function clearedFilters(state) {
  const view = VIEWS[viewOf(state)];
  return { search: "", severity: [], commander: "", status: view ? [...view.status] : [], page: 1 };
}

/** The parameters for api.listIncidents(). */
export function apiParams(state) {
  return {
    page: state.page,
    limit: state.limit,
    search: state.search,
    severity: state.severity,
    status: state.status,
    commander: state.commander || undefined,
    sort_by: state.sort_by,
    sort_order: state.sort_order,
    archived: state.archived ? "true" : undefined, // left out of the request unless asked for
    cursor: state.cursor || undefined,
  };
}

/**
 * Whether `incident` belongs in the list `state` shows: the same filters the API applies (the archived view or
 * the live one, severity, status, commander (`me` is `userId`), search as a case-insensitive substring of the
 * title or the service).
 */
export function matchesState(incident, state, { userId = null } = {}) {
  if (Boolean(incident.archived_at) !== Boolean(state.archived)) return false;
  if (state.severity.length && !state.severity.includes(incident.severity)) return false;
  if (state.status.length && !state.status.includes(incident.status)) return false;
  if (state.commander) {
    const commanderId = incident.commander?.id ?? incident.commander_id ?? null;
    if (state.commander === "none" ? commanderId !== null : state.commander === "me" ? userId === null || commanderId !== userId : commanderId !== Number(state.commander)) {
      return false;
    }
  }
  if (state.search) {
    const needle = state.search.toLowerCase();
    const inTitle = String(incident.title ?? "").toLowerCase().includes(needle);
    const inService = String(incident.service ?? "").toLowerCase().includes(needle);
    if (!inTitle && !inService) return false;
  }
  return true;
}

/** Clicking a column header: the same column flips the order, a new one starts with its natural order. */
export function nextSort(state, field) {
  if (state.sort_by === field) {
    return { sort_by: field, sort_order: state.sort_order === "asc" ? "desc" : "asc" };
  }
  const newestFirst = field === "created_at" || field === "updated_at"; // the Age column: youngest first
  return { sort_by: field, sort_order: newestFirst ? "desc" : "asc" };
}

const NUMBER = new Intl.NumberFormat("en-US");

/** A count as shown: "1,234,567"; "10,000+" when it is only a lower bound (the API's total_exact false). */
export function formatTotal(total, exact = true) {
  return `${NUMBER.format(total)}${exact ? "" : "+"}`;
}

/** "Showing 21-40 of 200" for a page of `count` rows ("of 10,000+" when the total is a lower bound). */
export function summaryText({ page, limit, total, total_exact: exact = true }, count, { archived = false } = {}) {
  if (count === 0) {
    return total === 0 ? (archived ? "No archived incidents" : "No incidents") : `Showing 0 of ${formatTotal(total, exact)}`;
  }
  const first = (page - 1) * limit + 1;
  return `Showing ${NUMBER.format(first)}-${NUMBER.format(first + count - 1)} of ${formatTotal(total, exact)}`;
}

/** Page numbers to offer, with null for a gap: pageNumbers(7, 20) -> [1, null, 6, 7, 8, null, 20]. */
export function pageNumbers(current, pages) {
  const wanted = new Set([1, pages, current - 1, current, current + 1]);
  const numbers = [...wanted].filter((n) => n >= 1 && n <= pages).sort((a, b) => a - b);
  const out = [];
  numbers.forEach((n, i) => {
    if (i > 0 && n - numbers[i - 1] === 2) out.push(n - 1);
    else if (i > 0 && n - numbers[i - 1] > 2) out.push(null);
    out.push(n);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Durations: the Age column ("open for 3 d 4 h", "resolved in 2 h 5 min").

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** A duration in ms, short: "3 d 4 h", "2 h 5 min", "12 min", "< 1 min"; { long: true }: "3 days 4 hours". */
export function durationText(ms, { long = false } = {}) {
  const total = Math.max(0, Math.floor(ms / MINUTE)) * MINUTE;
  const days = Math.floor(total / DAY);
  const hours = Math.floor((total % DAY) / HOUR);
  const minutes = Math.floor((total % HOUR) / MINUTE);
  const unit = (count, short, word) => (long ? plural(count, word) : `${count} ${short}`);
  if (days > 0) return hours > 0 ? `${unit(days, "d", "day")} ${unit(hours, "h", "hour")}` : unit(days, "d", "day");
  if (hours > 0) return minutes > 0 ? `${unit(hours, "h", "hour")} ${unit(minutes, "min", "minute")}` : unit(hours, "h", "hour");
  if (minutes > 0) return unit(minutes, "min", "minute");
  return long ? "less than a minute" : "< 1 min";
}

/**
 * How long an incident has been open (unresolved: until `now`) or was open (resolved: created to resolved):
 * { text: "open for 3 d 4 h", long: "Open for 3 days 4 hours", resolved } or null without a creation time.
 */
export function ageOf(incident, now = Date.now()) {
  const created = parseApiDate(incident.created_at);
  if (!created) return null;
  const resolvedAt = incident.status === "RESOLVED" ? parseApiDate(incident.resolved_at) : null;
  const resolved = resolvedAt !== null;
  const ms = (resolved ? resolvedAt.getTime() : now) - created.getTime();
  const words = resolved ? "resolved in" : "open for";
  return {
    text: `${words} ${durationText(ms)}`,
    long: `${words[0].toUpperCase()}${words.slice(1)} ${durationText(ms, { long: true })}`,
    resolved,
  };
}
