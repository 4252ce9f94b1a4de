// The incident's timeline: one list item per audit event, oldest first. Everything from the API
// (names, notes, values) is written as text through el().

import { el, formatExact, icon, parseApiDate, statusLabel, timeElement } from "./dom.js";

// The order and the names of the fields an event can record.
export const FIELD_LABELS = {
  title: "Title",
  service: "Service",
  severity: "Severity",
  status: "Status",
  description: "Description",
  commander: "Commander",
  mitigated_at: "Mitigated",
  resolved_at: "Resolved",
  archived_at: "Archived",
};

const STAMPS = new Set(["mitigated_at", "resolved_at", "archived_at"]);

export const EMPTY = "—"; // how a missing value (null) reads

const ACTIONS = {
  created: { text: "created the incident", icon: "plus-lg", tone: "primary" },
  updated: { text: "updated the incident", icon: "pencil", tone: "secondary" },
  note_added: { text: "added a note", icon: "chat-left-text", tone: "info" },
  archived: { text: "archived the incident", icon: "archive", tone: "warning" },
  restored: { text: "restored the incident", icon: "arrow-counterclockwise", tone: "success" },
};

function humanize(field) {
  const text = String(field).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function fieldLabel(field) {
  return FIELD_LABELS[field] ?? humanize(field);
}

/** A recorded value as text: statuses by name, times in full, null as a dash. */
export function valueText(field, value) {
  if (value === null || value === undefined || value === "") return EMPTY;
  if (field === "status") return statusLabel(value);
  if (field === "commander") return typeof value === "object" ? String(value.display_name ?? value.id) : String(value);
  if (STAMPS.has(field) || field.endsWith("_at")) {
    return parseApiDate(value) ? formatExact(value) : String(value);
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function valueNode(field, value, role) {
  const text = valueText(field, value);
  const empty = text === EMPTY;
  const date = !empty && (STAMPS.has(field) || field.endsWith("_at")) ? parseApiDate(value) : null;
  const className = `change-value change-${role}${empty ? " change-empty" : ""}${field === "description" ? " change-long" : ""}`;
  if (date) {
    return el("time", { class: className, datetime: date.toISOString() }, text);
  }
  return el("span", { class: className, title: empty ? "empty" : null }, text);
}

/** The fields of `changes` in the usual order (known fields first). */
function orderedFields(changes) {
  const known = Object.keys(FIELD_LABELS).filter((field) => field in changes);
  const others = Object.keys(changes).filter((field) => !(field in FIELD_LABELS)).sort();
  return [...known, ...others];
}

/** "created": the values it started with (fields left empty are not listed). */
function initialValues(changes) {
  const rows = [];
  for (const field of orderedFields(changes)) {
    const value = changes[field]?.new;
    if (value === null || value === undefined || value === "") continue;
    rows.push(el("dt", { class: "col-sm-3" }, fieldLabel(field)), el("dd", { class: "col-sm-9" }, valueNode(field, value, "new")));
  }
  return rows.length ? el("dl", { class: "row event-values mb-0" }, rows) : null;
}

/** "updated": every changed field as old -> new. */
function changeList(changes) {
  const items = orderedFields(changes).map((field) =>
    el(
      "li",
      { class: "change", dataset: { field } },
      el("span", { class: "change-field" }, `${fieldLabel(field)}:`),
      " ",
      valueNode(field, changes[field]?.old, "old"),
      el("span", { class: "change-arrow", "aria-label": "changed to" }, " → "),
      valueNode(field, changes[field]?.new, "new"),
    ),
  );
  return items.length ? el("ul", { class: "list-unstyled change-list mb-0" }, items) : null;
}

/** One event as a list item of the timeline. */
export function eventItem(event) {
  const action = ACTIONS[event.action] ?? { text: humanize(event.action ?? "changed the incident").toLowerCase(), icon: "dot", tone: "secondary" };
  const actor = event.actor
    ? el("strong", { class: "event-actor text-break" }, event.actor.display_name)
    : el("strong", { class: "event-actor event-system" }, "System");
  const changes = event.changes && typeof event.changes === "object" ? event.changes : {};

  let body = null;
  if (event.action === "created") body = initialValues(changes);
  else if (event.action === "updated") body = changeList(changes);
  else if (event.action === "note_added") body = el("div", { class: "event-note text-break" }, event.note ?? "");
  // A change can come with its reason (a lifecycle step's comment).
  const note = event.action !== "note_added" && event.note ? el("div", { class: "event-note text-break mt-1" }, event.note) : null;

  return el(
    "li",
    { class: "timeline-item", dataset: { action: event.action, eventId: String(event.id) } },
    el("span", { class: `timeline-marker bg-${action.tone}-subtle text-${action.tone}-emphasis border-${action.tone}-subtle` }, icon(action.icon)),
    el(
      "div",
      { class: "timeline-content" },
      el(
        "div",
        { class: "event-summary" },
        actor,
        " ",
        el("span", { class: "event-what" }, action.text),
        el("span", { class: "text-body-tertiary mx-1", "aria-hidden": "true" }, "·"),
        el("span", { class: "event-time text-body-secondary" }, timeElement(event.created_at)),
      ),
      body || note ? el("div", { class: "event-body" }, body, note) : null,
    ),
  );
}

/** "1 event", "5 events". */
export function eventCountText(count) {
  return `${count} ${count === 1 ? "event" : "events"}`;
}
