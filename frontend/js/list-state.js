// The list page's state and its query string (pure functions, no DOM).
// The names are the API's own: archived, search, severity, status, sort_by, sort_order, page, limit, cursor.

import { SEVERITIES, STATUSES, session } from "./dom.js";

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
export const SORT_FIELDS = ["id", "title", "service", "severity", "status", "created_at", "updated_at"];

export const DEFAULT_STATE = Object.freeze({
  archived: false, // admins: the archived incidents instead of the live ones
  search: "",
  severity: [],
  status: [],
  sort_by: "created_at",
  sort_order: "desc",
  page: 1,
  limit: 20,
  // The API's next_cursor of the page before, when "Next" led here: the same rows as `page`, read by keyset
  // (cheap at any depth). Opaque; any other change of the view drops it.
  cursor: null,
});

// What a cursor the API hands out looks like (URL-safe base64); anything else in the address is ignored.
const CURSOR = /^[A-Za-z0-9_-]{1,1024}$/;

function positiveInt(text, fallback) {
  return /^\d+$/.test(text ?? "") && Number(text) >= 1 ? Number(text) : fallback;
}

/** Keep the known values, each once, in their canonical order. */
function pick(values, allowed) {
  return allowed.filter((value) => values.includes(value));
}

/** Read the state from a query string ("?search=db&severity=SEV1"); unknown or bad values fall back to defaults. */
export function stateFromQuery(query) {
  const params = new URLSearchParams(query);
  const sortBy = params.get("sort_by");
  const sortOrder = params.get("sort_order");
  const limit = positiveInt(params.get("limit"), DEFAULT_STATE.limit);
  return {
    archived: ["true", "1"].includes(params.get("archived") ?? ""),
    search: (params.get("search") ?? "").trim(),
    severity: pick(params.getAll("severity"), SEVERITIES),
    status: pick(params.getAll("status"), STATUSES),
    sort_by: SORT_FIELDS.includes(sortBy) ? sortBy : DEFAULT_STATE.sort_by,
    sort_order: sortOrder === "asc" || sortOrder === "desc" ? sortOrder : DEFAULT_STATE.sort_order,
    page: positiveInt(params.get("page"), DEFAULT_STATE.page),
    limit: PAGE_SIZES.includes(limit) ? limit : DEFAULT_STATE.limit,
    cursor: CURSOR.test(params.get("cursor") ?? "") ? params.get("cursor") : null,
  };
}

/** The query string for a state ("" or "?..."); default values are left out to keep links short. */
export function stateToQuery(state) {
  const params = new URLSearchParams();
  if (state.archived) params.set("archived", "true");
  if (state.search) params.set("search", state.search);
  for (const value of state.severity) params.append("severity", value);
  for (const value of state.status) params.append("status", value);
  if (state.sort_by !== DEFAULT_STATE.sort_by || state.sort_order !== DEFAULT_STATE.sort_order) {
    params.set("sort_by", state.sort_by);
    params.set("sort_order", state.sort_order);
  }
  if (state.page !== DEFAULT_STATE.page) params.set("page", String(state.page));
  if (state.limit !== DEFAULT_STATE.limit) params.set("limit", String(state.limit));
  if (state.cursor) params.set("cursor", state.cursor);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The parameters for api.listIncidents(). */
export function apiParams(state) {
  return {
    page: state.page,
    limit: state.limit,
    search: state.search,
    severity: state.severity,
    status: state.status,
    sort_by: state.sort_by,
    sort_order: state.sort_order,
    archived: state.archived ? "true" : undefined, // left out of the request unless asked for
    cursor: state.cursor || undefined,
  };
}

/**
 * Whether `incident` belongs in the list `state` shows: the same filters the API applies (the archived view or
 * the live one, severity, status, search as a case-insensitive substring of the title or the service).
 */
export function matchesState(incident, state) {
  if (Boolean(incident.archived_at) !== Boolean(state.archived)) return false;
  if (state.severity.length && !state.severity.includes(incident.severity)) return false;
  if (state.status.length && !state.status.includes(incident.status)) return false;
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
  const newestFirst = field === "created_at" || field === "updated_at";
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
