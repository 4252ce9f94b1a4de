// The audit log page's state <-> query string (pure): the API's own parameter names, so that the address, the
// API call and the CSV export say the same thing.

export const ACTIONS = ["created", "updated", "note_added", "archived", "restored", "exported"];
export const LIMITS = [10, 20, 50, 100];
export const DEFAULT_LIMIT = 50;

const ID = /^[1-9]\d{0,17}$/;

/** A time from the address (ISO 8601 with an offset) as a Date, or null. */
function timeFrom(text) {
  if (!text || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** {actor_id, incident_id, action: [], since, until, page, limit} from a query string; what is not valid is left out. */
export function readState(search) {
  const params = new URLSearchParams(search);
  const id = (name) => (ID.test(params.get(name) ?? "") ? params.get(name) : "");
  const page = Number(params.get("page"));
  const limit = Number(params.get("limit"));
  const since = timeFrom(params.get("since"));
  const until = timeFrom(params.get("until"));
  return {
    actor_id: id("actor_id"),
    incident_id: id("incident_id"),
    action: ACTIONS.filter((action) => params.getAll("action").includes(action)),
    since: since ? isoUtc(since) : "",
    until: until ? isoUtc(until) : "",
    page: Number.isInteger(page) && page >= 1 && page < 1e9 ? page : 1,
    limit: LIMITS.includes(limit) ? limit : DEFAULT_LIMIT,
  };
}

/** "2026-12-01T10:00:00Z": a Date in UTC, to the second. */
export function isoUtc(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The filters alone, as URLSearchParams (no paging): what the export takes. */
export function filterParams(state) {
  const params = new URLSearchParams();
  if (state.actor_id) params.set("actor_id", state.actor_id);
  if (state.incident_id) params.set("incident_id", state.incident_id);
  for (const action of state.action) params.append("action", action);
  if (state.since) params.set("since", state.since);
  if (state.until) params.set("until", state.until);
  return params;
}

/** The page's query string for a state ("" or "?..."), defaults left out. */
export function stateQuery(state) {
  const params = filterParams(state);
  if (state.page > 1) params.set("page", String(state.page));
  if (state.limit !== DEFAULT_LIMIT) params.set("limit", String(state.limit));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The API's query for GET /api/audit. */
export function apiQuery(state) {
  const query = { page: state.page, limit: state.limit, action: state.action };
  for (const name of ["actor_id", "incident_id", "since", "until"]) if (state[name]) query[name] = state[name];
  return query;
}

export function hasFilters(state) {
  return Boolean(state.actor_id || state.incident_id || state.action.length || state.since || state.until);
}

/** A UTC ISO time as a datetime-local input's value in the browser's time zone ("2026-12-01T11:00"). */
export function toLocalInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  const seconds = date.getSeconds() ? `:${pad(date.getSeconds())}` : "";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}${seconds}`;
}

/** A datetime-local value (local time) as UTC ISO, "" when empty or not a time. */
export function fromLocalInput(value) {
  if (!value) return "";
  const date = new Date(value); // no offset: read in the browser's time zone
  return Number.isNaN(date.getTime()) ? "" : isoUtc(date);
}
