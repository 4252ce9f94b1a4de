// audit.html (admins): every recorded event, newest first, filtered by person, incident, action and time range,
// a page at a time; the whole state is in the address (the API's own parameter names). "Export CSV" downloads
// exactly the filtered events through a single-use download ticket. Everything from the API is written as text.

import { apiUrl, createDownloadTicket, listAudit, listUsers } from "./api.js";
import {
  ACTIONS,
  apiQuery,
  filterParams,
  fromLocalInput,
  hasFilters,
  readState,
  stateQuery,
  toLocalInput,
} from "./audit-state.js";
import { setFieldError } from "./admin-forms.js";
import { alertBox, el, formatExact, icon, refreshRelativeTimes, replaceChildren, statusLabel, timeElement } from "./dom.js";
import { pageSummary, renderPager } from "./pager.js";
import { can, roleLabel } from "./roles.js";
import { startSignedInPage } from "./session.js";
import "./shortcuts.js";
import { EMPTY, FIELD_LABELS, fieldLabel, valueText } from "./timeline.js";

export const EXPORT_PATH = "/api/audit/export";

// Each action in words: the filter's label and the row's text.
const ACTION_INFO = {
  created: { label: "Created", text: "Created the incident", icon: "plus-lg", tone: "primary" },
  updated: { label: "Updated", text: "Updated the incident", icon: "pencil", tone: "secondary" },
  note_added: { label: "Note added", text: "Added a note", icon: "chat-left-text", tone: "info" },
  archived: { label: "Archived", text: "Archived the incident", icon: "archive", tone: "warning" },
  restored: { label: "Restored", text: "Restored the incident", icon: "arrow-counterclockwise", tone: "success" },
  exported: { label: "Exported CSV", text: "Exported a CSV file", icon: "download", tone: "secondary" },
};

const $ = (selector) => document.querySelector(selector);
const view = {
  heading: $("#page-heading"),
  loading: $("#loading"),
  messages: $("#page-messages"),
  notAllowed: $("#not-allowed"),
  filters: $("#filters"),
  actor: $("#actor"),
  incident: $("#incident"),
  since: $("#since"),
  until: $("#until"),
  actions: $("#action-filter"),
  clear: $("#clear-filters"),
  filtersToggle: $("#filters-toggle"),
  filtersCount: $("#filters-count"),
  card: $("#audit-card"),
  table: $("#events"),
  rows: $("#rows"),
  listMessage: $("#list-message"),
  summary: $("#summary"),
  limit: $("#limit"),
  pagination: $("#pagination"),
  exportButton: $("#export-csv"),
  exportMessage: $("#export-message"),
};

let current = readState(location.search);
let loadController = null;

// ---------------------------------------------------------------------------
// Filters <-> the form

function buildActionFilter() {
  view.actions.replaceChildren(
    ...ACTIONS.map((action) =>
      el(
        "div",
        { class: "form-check form-check-inline me-2 mb-0" },
        el("input", { class: "form-check-input", type: "checkbox", id: `action-${action}`, name: "action", value: action }),
        el("label", { class: "form-check-label", for: `action-${action}` }, ACTION_INFO[action].label),
      ),
    ),
  );
}

/** How many filters are on (each action counts): shown on the phone's Filters button. */
function filterCount(state) {
  return ["actor_id", "incident_id", "since", "until"].filter((name) => state[name]).length + state.action.length;
}

function fillForm(state) {
  view.actor.value = state.actor_id;
  if (view.actor.value !== state.actor_id) {
    // An account this page does not list (yet): keep the filter, shown by its id.
    view.actor.append(el("option", { value: state.actor_id }, `User #${state.actor_id}`));
    view.actor.value = state.actor_id;
  }
  view.incident.value = state.incident_id;
  view.since.value = toLocalInput(state.since);
  view.until.value = toLocalInput(state.until);
  for (const box of view.actions.querySelectorAll("input")) box.checked = state.action.includes(box.value);
  view.limit.value = String(state.limit);
  view.clear.hidden = !hasFilters(state);
  const count = filterCount(state);
  view.filtersCount.textContent = String(count);
  view.filtersCount.hidden = count === 0;
  view.filtersToggle.setAttribute("aria-label", count ? `Filters, ${count} on` : "Filters");
  for (const input of [view.incident, view.since, view.until]) setFieldError(input, "");
}

/** The state the form asks for, or null (with the fields marked) when a value cannot be used. */
function formState() {
  const incident = view.incident.value.trim().replace(/^#/, "");
  let ok = true;
  if (incident && !/^[1-9]\d{0,17}$/.test(incident)) {
    setFieldError(view.incident, "Enter an incident number, like 42.");
    ok = false;
  } else setFieldError(view.incident, "");
  const since = fromLocalInput(view.since.value);
  const until = fromLocalInput(view.until.value);
  setFieldError(view.since, view.since.validity.badInput ? "Enter a date and time, or leave it empty." : "");
  setFieldError(view.until, view.until.validity.badInput ? "Enter a date and time, or leave it empty." : "");
  if (view.since.validity.badInput || view.until.validity.badInput) ok = false;
  if (ok && since && until && since >= until) {
    setFieldError(view.until, "Pick a time after “From”.");
    ok = false;
  }
  if (!ok) return null;
  return {
    actor_id: view.actor.value,
    incident_id: incident,
    action: [...view.actions.querySelectorAll("input:checked")].map((box) => box.value),
    since,
    until,
    page: 1,
    limit: Number(view.limit.value),
  };
}

function go(state, { replace = false } = {}) {
  current = state;
  const url = `audit.html${stateQuery(state)}`;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  fillForm(state);
  return load();
}

function applyFilters() {
  const state = formState();
  if (!state) {
    view.filters.querySelector(".is-invalid")?.focus();
    return;
  }
  if (stateQuery(state) !== stateQuery(current)) go(state);
}

// ---------------------------------------------------------------------------
// Rows

/** The fields of `changes` in the timeline's order (known fields first, then the others by name). */
function orderedFields(changes) {
  const known = Object.keys(FIELD_LABELS).filter((field) => field in changes);
  return [...known, ...Object.keys(changes).filter((field) => !(field in FIELD_LABELS)).sort()];
}

function changeList(changes) {
  const fields = orderedFields(changes);
  if (!fields.length) return null;
  return el(
    "ul",
    { class: "list-unstyled change-list mb-0" },
    fields.map((field) =>
      el(
        "li",
        { class: "change", dataset: { field } },
        el("span", { class: "change-field" }, `${fieldLabel(field)}:`),
        " ",
        valueSpan(field, changes[field]?.old, "old"),
        el("span", { class: "change-arrow", "aria-label": "changed to" }, " → "),
        valueSpan(field, changes[field]?.new, "new"),
      ),
    ),
  );
}

function valueSpan(field, value, role) {
  const text = valueText(field, value);
  return el("span", { class: `change-value change-${role}${text === EMPTY ? " change-empty" : ""}` }, text);
}

/** "created": the values it started with, as "Field: value" (empty ones left out). */
function initialValues(changes) {
  const items = orderedFields(changes)
    .filter((field) => ![null, undefined, ""].includes(changes[field]?.new))
    .map((field) =>
      el("li", { class: "change", dataset: { field } }, el("span", { class: "change-field" }, `${fieldLabel(field)}:`), " ", valueSpan(field, changes[field].new, "new")),
    );
  return items.length ? el("ul", { class: "list-unstyled change-list mb-0" }, items) : null;
}

/** One filter an export was made with, in words: "Action: Archived, Note added", "From: Jan 5, 2026, ...". */
function filterText(name, value) {
  const values = Array.isArray(value) ? value : [value];
  const words = {
    action: ["Action", (v) => ACTION_INFO[v]?.label ?? v],
    actor_id: ["Person", (v) => `user #${v}`],
    incident_id: ["Incident", (v) => `#${v}`],
    since: ["From", (v) => formatExact(v) || v],
    until: ["Until", (v) => formatExact(v) || v],
    severity: ["Severity", (v) => v],
    status: ["Status", (v) => statusLabel(v)],
  };
  const [label, text] = words[name] ?? [fieldLabel(name), (v) => String(v)];
  return `${label}: ${values.map(text).join(", ")}`;
}

function exportSummary(details) {
  if (!details) return null;
  const what = details.export === "audit" ? "audit log" : "incidents";
  const rows = `${details.rows} ${details.rows === 1 ? "row" : "rows"}`;
  const filters = Object.entries(details.filters ?? {})
    .filter(([, value]) => value !== null && value !== "" && !(Array.isArray(value) && value.length === 0) && value !== false)
    .map(([name, value]) => filterText(name, value));
  return el(
    "div",
    { class: "export-details" },
    el("div", {}, `${rows} of the ${what}${details.completed ? "" : " (cut off before the end)"}`),
    filters.length ? el("div", { class: "small text-body-secondary text-break" }, `Filters: ${filters.join("; ")}`) : null,
  );
}

function changeCell(event) {
  const changes = event.changes && typeof event.changes === "object" ? event.changes : {};
  if (event.action === "created") return initialValues(changes);
  if (event.action === "note_added") return el("div", { class: "event-note text-break" }, event.note ?? "");
  if (event.action === "exported") return exportSummary(event.details);
  return changeList(changes);
}

function incidentCell(event) {
  if (event.incident_id === null || event.incident_id === undefined) return el("span", { class: "text-body-secondary" }, EMPTY);
  // An archived incident opens too: the detail page finds it among the archived ones for an admin.
  return el("a", { href: `detail.html?id=${encodeURIComponent(event.incident_id)}`, class: "incident-ref" }, `#${event.incident_id}`);
}

function row(event) {
  const info = ACTION_INFO[event.action] ?? { text: String(event.action), icon: "dot", tone: "secondary" };
  return el(
    "tr",
    { dataset: { eventId: String(event.id), action: event.action } },
    el("td", { class: "event-when", "data-label": "When" }, timeElement(event.created_at)),
    el(
      "td",
      { class: "event-who text-break", "data-label": "Who" },
      event.actor ? event.actor.display_name : el("span", { class: "event-system" }, "System"),
    ),
    el(
      "td",
      { class: "event-action", "data-label": "Action" },
      el("span", { class: `action-icon text-${info.tone}-emphasis me-1` }, icon(info.icon)),
      info.text,
    ),
    el("td", { class: "event-incident", "data-label": "Incident" }, incidentCell(event)),
    el("td", { class: "event-change", "data-label": "Change" }, changeCell(event)),
  );
}

// ---------------------------------------------------------------------------
// Loading

async function load() {
  loadController?.abort();
  const controller = new AbortController();
  loadController = controller;
  view.table.setAttribute("aria-busy", "true");
  try {
    const data = await listAudit(apiQuery(current), { signal: controller.signal });
    if (controller.signal.aborted) return;
    const events = data.items ?? [];
    view.rows.replaceChildren(...events.map(row));
    view.table.hidden = events.length === 0;
    if (events.length === 0) {
      const text = data.total > 0 ? "This page is past the last one." : hasFilters(current) ? "No events match these filters." : "Nothing has been recorded yet.";
      replaceChildren(view.listMessage, el("div", { class: "p-3 text-body-secondary" }, text));
    } else {
      view.listMessage.replaceChildren();
    }
    view.summary.textContent = pageSummary(data, events.length, "event");
    renderPager(view.pagination, data, (page) => `audit.html${stateQuery({ ...current, page })}`);
  } catch (error) {
    if (error.name === "AbortError") return;
    view.rows.replaceChildren();
    view.table.hidden = true;
    view.pagination.replaceChildren();
    view.summary.textContent = "";
    const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: () => load() }, icon("arrow-clockwise", "me-1"), "Retry");
    replaceChildren(view.listMessage, el("div", { class: "p-3" }, alertBox("danger", error.message, { heading: "Could not load the audit log", action: retry })));
  } finally {
    if (loadController === controller) view.table.removeAttribute("aria-busy");
  }
}

/** Every account, for the person filter (pages of 100). */
async function loadPeople() {
  const people = [];
  for (let page = 1; page <= 1000; page += 1) {
    const data = await listUsers({ page, limit: 100 });
    people.push(...(data.items ?? []));
    if (page >= (data.pages ?? 1) || !(data.items ?? []).length) break;
  }
  people.sort((a, b) => a.display_name.localeCompare(b.display_name, "en", { sensitivity: "base" }) || a.id - b.id);
  view.actor.replaceChildren(
    el("option", { value: "" }, "Anyone"),
    ...people.map((person) =>
      el("option", { value: String(person.id) }, `${person.display_name} (${person.email})${person.is_active ? "" : " · inactive"}`),
    ),
  );
}

// ---------------------------------------------------------------------------
// Export: exactly the current filters, every page, as a real download (no token in a URL)

async function exportCsv() {
  const button = view.exportButton;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  view.exportMessage.replaceChildren();
  try {
    const ticket = await createDownloadTicket(EXPORT_PATH, filterParams(current).toString());
    const link = el("a", { href: apiUrl(ticket.url), hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    replaceChildren(view.exportMessage, alertBox("danger", error.message, { heading: "Could not export", dismissible: true }));
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---------------------------------------------------------------------------
// Start

function wire() {
  view.filters.addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });
  // Choices apply at once; typed values when the field is left or Enter is pressed.
  view.filters.addEventListener("change", (event) => {
    if (event.target === view.incident || event.target.type === "datetime-local") return;
    applyFilters();
  });
  view.incident.addEventListener("change", applyFilters);
  // A date-time input changes with every part typed: apply it once the field is left.
  for (const input of [view.since, view.until]) input.addEventListener("blur", applyFilters);
  view.clear.addEventListener("click", () => {
    go({ ...readState(""), limit: current.limit });
    view.actor.focus();
  });
  view.limit.addEventListener("change", () => go({ ...current, page: 1, limit: Number(view.limit.value) }));
  view.pagination.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-page]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    go({ ...current, page: Number(link.dataset.page) }).then(() => view.heading.focus());
  });
  window.addEventListener("popstate", () => {
    current = readState(location.search);
    fillForm(current);
    load();
  });
  view.exportButton.addEventListener("click", exportCsv);
  // On a phone the filters fold away behind a button that says how many are on.
  view.filtersToggle.addEventListener("click", () => {
    const open = !view.filters.classList.contains("filters-open");
    view.filters.classList.toggle("filters-open", open);
    view.filtersToggle.setAttribute("aria-expanded", String(open));
    if (open) view.actor.focus();
  });
}

let me = null;
try {
  me = await startSignedInPage();
} catch (error) {
  view.loading.hidden = true;
  const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: () => location.reload() }, icon("arrow-clockwise", "me-1"), "Retry");
  replaceChildren(view.messages, alertBox("danger", error.message, { heading: "Could not load your account", action: retry }));
}

if (me && !can(me, "readAudit")) {
  document.title = "Not allowed · Incident Tracker";
  view.loading.hidden = true;
  view.notAllowed.querySelector("#not-allowed-reason").textContent =
    `Only admins read the audit log; your role is ${roleLabel(me.role).toLowerCase()}. An incident's own history is on its page.`;
  view.notAllowed.hidden = false;
  view.notAllowed.focus();
} else if (me) {
  $("#time-zone").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  buildActionFilter();
  wire();
  history.replaceState(null, "", `audit.html${stateQuery(current)}`); // the address as the page reads it
  try {
    await loadPeople();
  } catch (error) {
    replaceChildren(view.messages, alertBox("warning", error.message, { heading: "Could not load the list of people" }));
  }
  fillForm(current);
  view.filters.hidden = false;
  view.filtersToggle.hidden = false;
  view.card.hidden = false;
  view.exportButton.hidden = false;
  await load();
  view.loading.hidden = true;
  setInterval(() => refreshRelativeTimes(view.rows), 60_000);
}
