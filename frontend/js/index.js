// The incident list as a triage board: named views (Active by default: open and mitigated, most severe first,
// oldest first; All; Resolved), state in the URL, rows written as text (cards on a phone), loading / empty / error
// states, keyboard shortcuts. Admins also get the archived view (archived=true in the URL).

import { listIncidents } from "./api.js";
import { mountExportButton } from "./export.js";
import {
  alertBox,
  el,
  formatExact,
  icon,
  parseApiDate,
  refreshRelativeTimes,
  replaceChildren,
  severityBadge,
  statusBadge,
  timeElement,
} from "./dom.js";
import {
  VIEWS,
  activeFilterCount,
  ageOf,
  apiParams,
  archivedChanges,
  clearedFilters,
  matchesState,
  nextSort,
  pageNumbers,
  rememberListQuery,
  stateFromQuery,
  stateToQuery,
  summaryText,
  viewChanges,
  viewOf,
} from "./list-state.js";
import { connectLive } from "./live.js";
import { can } from "./roles.js";
import { startSignedInPage } from "./session.js";
import { addShortcut } from "./shortcuts.js";

const SEARCH_DELAY_MS = 350;

const $ = (selector) => document.querySelector(selector);
const view = {
  heading: $("#list-heading"),
  newIncident: $("#new-incident"),
  archivedToggle: $("#archived-toggle"),
  showArchived: $("#show-archived"),
  archivedNote: $("#archived-note"),
  form: $("#filters"),
  search: $("#search"),
  filterBoxes: [...document.querySelectorAll("#filters input[type=checkbox]")],
  commanderRadios: [...document.querySelectorAll("#commander-filter input[type=radio]")],
  commanderUser: $("#commander-user"),
  commanderUserLabel: $("#commander-user-label"),
  views: [...document.querySelectorAll("#views [data-view]")],
  customView: $("#custom-view"),
  filtersToggle: $("#filters-toggle"),
  filterCount: $("#filter-count"),
  resultsHeading: $("#results-heading"),
  clearFilters: $("#clear-filters"),
  body: $("#list-body"),
  table: $("#incidents"),
  headers: [...document.querySelectorAll("#incidents th[data-sort]")],
  rows: $("#rows"),
  message: $("#list-message"),
  summary: $("#summary"),
  limit: $("#limit"),
  pagination: $("#pagination"),
  newIncidents: $("#new-incidents"),
  liveStatus: $("#live-status"),
};

let user = null; // the signed-in user, once known
let newShortcut = false; // "n" is added once the user is known to be allowed to create
let state = readState();
let lastChange = null; // "search" while the user keeps typing: one history entry per search, not per word
let inFlight = null; // AbortController of the running request
let searchTimer = null;
let shown = new Map(); // id -> the incident as its row on screen shows it
let pending = new Map(); // id -> "created" | "changed": matching incidents not on screen, counted in the banner

/** The state in the address bar; the archived view only for admins (the API would refuse it). */
function readState() {
  const read = stateFromQuery(location.search);
  if (!read.archived || can(user, "viewArchived")) return read;
  const params = new URLSearchParams(location.search);
  params.delete("archived"); // read as the live list's address (its default view is another)
  return stateFromQuery(params.toString());
}

// ---------------------------------------------------------------------------
// Rendering

function listUrl(changes = {}) {
  return `${location.pathname}${stateToQuery({ ...state, cursor: null, ...changes })}`;
}

function hasFilters() {
  return activeFilterCount(state) > 0;
}

/** "Active incidents", "Resolved incidents", "Incidents" (a custom view). */
function viewHeading() {
  const name = viewOf(state);
  return name === "custom" ? "Incidents (custom view)" : `${VIEWS[name].label} incidents`;
}

/** The view pills: the current one marked (aria-current), each a link to the view with the other filters kept. */
function renderViews() {
  const current = viewOf(state);
  for (const node of view.views) {
    const name = node.dataset.view;
    const isCurrent = name === current;
    node.classList.toggle("active", isCurrent);
    if (isCurrent) node.setAttribute("aria-current", "page");
    else node.removeAttribute("aria-current");
    if (name !== "custom") node.href = listUrl(viewChanges(name));
  }
  view.customView.hidden = current !== "custom";
  view.resultsHeading.textContent = state.archived ? `Archived ${viewHeading().toLowerCase()}` : viewHeading();
}

/** The commander filter: Anyone, Mine, Unassigned, or one user (from a link) shown as a fourth choice. */
function renderCommander() {
  const numeric = /^\d+$/.test(state.commander);
  view.commanderUser.value = numeric ? state.commander : "";
  view.commanderUser.hidden = !numeric;
  view.commanderUserLabel.hidden = !numeric;
  if (numeric) {
    const known = [...shown.values()].find((incident) => String(incident.commander?.id) === state.commander);
    view.commanderUserLabel.textContent = known ? known.commander.display_name : `User #${state.commander}`;
  }
  for (const radio of view.commanderRadios) {
    radio.checked = radio === view.commanderUser ? numeric : !numeric && radio.value === state.commander;
  }
}

/** "Filters (2)": how many filters are on beyond the view; on a phone the button opens and closes the filters. */
function renderFilterCount() {
  const count = activeFilterCount(state);
  view.filterCount.textContent = count ? ` (${count})` : "";
  view.filtersToggle.setAttribute("aria-label", count ? `Filters, ${count} on` : "Filters, none on");
}

/** Make the controls show `state` (after a load, Back/Forward, or a click). */
function renderControls() {
  view.showArchived.checked = state.archived;
  view.heading.textContent = state.archived ? "Archived incidents" : "Incidents";
  view.archivedNote.hidden = !state.archived;
  renderRole();
  document.title = `${state.archived ? "Archived incidents" : "Incidents"} · Incident Tracker`;
  if (view.search.value.trim() !== state.search) {
    view.search.value = state.search;
  }
  for (const box of view.filterBoxes) {
    box.checked = state[box.name].includes(box.value);
  }
  renderCommander();
  renderViews();
  renderFilterCount();
  view.clearFilters.hidden = !hasFilters();
  view.limit.value = String(state.limit);

  for (const th of view.headers) {
    const button = th.querySelector("button");
    const sorted = th.dataset.sort === state.sort_by;
    button.querySelector(".sort-icon")?.remove();
    if (sorted) {
      const ascending = state.sort_order === "asc";
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      button.append(icon(ascending ? "caret-up-fill" : "caret-down-fill", "sort-icon ms-1"));
    } else {
      th.removeAttribute("aria-sort");
      button.append(icon("chevron-expand", "sort-icon sort-icon-idle ms-1"));
    }
  }
}

/** What the signed-in user may do: the New incident button, the archived view switch. */
function renderRole() {
  view.newIncident.hidden = !can(user, "create") || state.archived;
  if (can(user, "create") && !newShortcut) {
    newShortcut = true;
    addShortcut("n", "New incident", () => {
      if (!view.newIncident.hidden) location.assign(view.newIncident.href);
    });
  }
  view.archivedToggle.hidden = !can(user, "viewArchived");
  for (const node of view.message.querySelectorAll("[data-needs=create]")) {
    node.hidden = !can(user, "create");
  }
}

/** "open for 3 d 4 h" (exact times on hover): how long the incident has been (or was) open. */
function ageElement(incident) {
  const age = ageOf(incident);
  const created = parseApiDate(incident.created_at);
  if (!age || !created) return null;
  const exact = `${age.long}: opened ${formatExact(incident.created_at)}${age.resolved ? `, resolved ${formatExact(incident.resolved_at)}` : ""}`;
  return el("time", { class: "incident-age", datetime: created.toISOString(), title: exact }, age.text);
}

function commanderElement(incident) {
  return incident.commander
    ? el("span", { class: "commander-name", title: incident.commander.display_name }, incident.commander.display_name)
    : el("span", { class: "commander-none text-body-secondary" }, "Unassigned");
}

/** One incident: a table row on wide screens, a card on a phone (the same cells, laid out by the CSS). */
function incidentRow(incident) {
  // An archived incident is only found when the detail page asks for it with archived=true.
  const href = `detail.html?id=${encodeURIComponent(incident.id)}${state.archived ? "&archived=1" : ""}`;
  return el(
    "tr",
    { class: "incident-row", dataset: { href, id: String(incident.id) } },
    el("td", { class: "col-id text-body-secondary incident-id" }, `#${incident.id}`),
    el(
      "td",
      { class: "col-title incident-title" },
      el("a", { href, class: "incident-link", title: incident.title }, incident.title),
      incident.archived_at
        ? el(
            "div",
            { class: "archived-by text-body-secondary" },
            "Archived by ",
            incident.archived_by ? incident.archived_by.display_name : "System",
            " ",
            timeElement(incident.archived_at),
          )
        : null,
    ),
    el("td", { class: "col-service text-nowrap" }, icon("hdd-stack", "cell-icon"), el("span", { class: "visually-hidden card-label" }, "Service: "), el("span", { class: "service-name" }, incident.service)),
    el("td", { class: "col-severity" }, severityBadge(incident.severity)),
    el("td", { class: "col-status" }, statusBadge(incident.status)),
    el("td", { class: "col-commander text-nowrap" }, icon("person-fill", "cell-icon"), el("span", { class: "visually-hidden card-label" }, "Commander: "), commanderElement(incident)),
    el("td", { class: "col-age text-nowrap" }, icon("hourglass-split", "cell-icon"), ageElement(incident)),
    el("td", { class: "col-updated text-nowrap text-body-secondary" }, el("span", { class: "card-label" }, "Updated "), timeElement(incident.updated_at)),
  );
}

function pageItem(label, page, { current = false, disabled = false, ariaLabel = null, cursor = null } = {}) {
  if (disabled || current) {
    return el(
      "li",
      { class: `page-item ${current ? "active" : "disabled"}`, "aria-current": current ? "page" : null },
      el("span", { class: "page-link" }, label),
    );
  }
  return el(
    "li",
    { class: "page-item" },
    el(
      "a",
      {
        class: "page-link",
        href: listUrl({ page, cursor }),
        dataset: cursor ? { page: String(page), cursor } : { page: String(page) },
        "aria-label": ariaLabel,
      },
      label,
    ),
  );
}

/** Page links; "Next" carries the API's next_cursor, so that it reads the next rows by keyset at any depth
 * (the address keeps the page number too, and stays a link that can be shared). */
function renderPagination(page, pages, nextCursor) {
  if (pages <= 1 && page <= 1 && !nextCursor) {
    view.pagination.replaceChildren();
    return;
  }
  const previous = Math.max(Math.min(page - 1, pages), 1);
  const items = [pageItem("Previous", previous, { disabled: page <= 1 || pages === 0, ariaLabel: "Previous page" })];
  for (const number of pageNumbers(Math.min(page, pages), pages)) {
    items.push(
      number === null
        ? el("li", { class: "page-item disabled" }, el("span", { class: "page-link" }, "…"))
        : pageItem(String(number), number, { current: number === page, ariaLabel: `Page ${number}` }),
    );
  }
  items.push(pageItem("Next", page + 1, { disabled: !nextCursor, ariaLabel: "Next page", cursor: nextCursor }));
  replaceChildren(view.pagination, items);
}

function emptyState(data) {
  const pastEnd = data.total > 0;
  const name = viewOf(state);
  let heading = "No incidents match";
  let hint;
  let action = null;
  if (pastEnd) {
    const last = Math.max(data.pages, 1);
    hint = `Page ${data.page} is past the end: ${data.total} ${data.total === 1 ? "incident matches" : "incidents match"} in total.`;
    action = el("a", { class: "btn btn-outline-primary btn-sm", href: listUrl({ page: last }), dataset: { page: String(last) } }, `Go to page ${last}`);
  } else if (hasFilters()) {
    hint = "Try another search or clear the filters.";
    action = el("button", { type: "button", class: "btn btn-outline-primary btn-sm", onclick: clearFilters }, "Clear filters");
  } else if (state.archived) {
    heading = "No archived incidents";
    hint = "Nothing has been archived.";
    action = el("a", { class: "btn btn-outline-primary btn-sm", href: listUrl(archivedChanges(false)), dataset: { archived: "false" } }, "Show live incidents");
  } else if (name === "active" || name === "resolved") {
    heading = name === "active" ? "No active incidents" : "No resolved incidents";
    hint = name === "active" ? "Nothing is open or mitigated right now." : "No incident has been resolved yet.";
    action = el("a", { class: "btn btn-outline-primary btn-sm", href: listUrl(viewChanges("all")), dataset: { view: "all" } }, "Show all incidents");
  } else {
    hint = "No incident has been reported yet.";
    // Shown once the user is known to be allowed (renderRole), whichever answers first, the list or /me.
    action = el("a", { class: "btn btn-primary btn-sm", href: "create.html", dataset: { needs: "create" }, hidden: !can(user, "create") }, "Report an incident");
  }
  return el(
    "div",
    { class: "empty-state text-center py-5 px-3" },
    icon("inbox", "display-6 text-body-tertiary"),
    el("p", { class: "h5 mt-2 mb-1" }, heading),
    el("p", { class: "text-body-secondary mb-3" }, hint),
    action,
  );
}

// Rows of the same height as the real ones, shown until the first page arrives, so that nothing moves then.
function skeletonRow() {
  const bar = (width) => el("span", { class: `placeholder col-${width}` });
  return el(
    "tr",
    { class: "skeleton-row", "aria-hidden": "true" },
    ...[
      ["id", 4],
      ["title", 10],
      ["service", 6],
      ["severity", 8],
      ["status", 8],
      ["commander", 6],
      ["age", 8],
      ["updated", 6],
    ].map(([column, width]) => el("td", { class: `col-${column} placeholder-glow` }, bar(width))),
  );
}

/** Keep room for a full page while a list has several pages: short pages, the empty state and loading
 * leave the controls below where they were. */
function reserveRows(count) {
  view.body.style.setProperty("--reserved-rows", String(count));
}

function showLoading() {
  view.table.setAttribute("aria-busy", "true");
  view.table.classList.add("is-loading");
  view.table.classList.toggle("archived-view", state.archived);
  if (!view.rows.querySelector(".incident-row")) {
    view.table.hidden = false;
    replaceChildren(view.rows, Array.from({ length: state.limit }, skeletonRow));
    reserveRows(state.limit);
  }
  replaceChildren(
    view.message,
    el(
      "div",
      { class: "loading-state d-flex align-items-center justify-content-center gap-2 py-3 text-body-secondary", role: "status" },
      el("span", { class: "spinner-border spinner-border-sm", "aria-hidden": "true" }),
      "Loading incidents…",
    ),
  );
}

function showPage(data, { focus = false } = {}) {
  view.table.removeAttribute("aria-busy");
  view.table.classList.remove("is-loading");
  const items = data.items ?? [];
  shown = new Map(items.map((incident) => [incident.id, incident]));
  replaceChildren(view.rows, items.map(incidentRow));
  view.table.hidden = items.length === 0;
  replaceChildren(view.message, items.length === 0 ? emptyState(data) : null);
  reserveRows(data.pages > 1 || data.page > 1 ? data.limit : 0);
  view.summary.textContent = summaryText(data, items.length, { archived: state.archived });
  renderPagination(data.page, data.pages, data.next_cursor);
  renderCommander(); // a commander named by id gets their name from the rows
  if (focus) focusResults();
}

// ---------------------------------------------------------------------------
// Selection and focus: j / k move through the rows, Enter opens; after paging or a new view, focus goes to the
// first row (or to the results heading when there is none), never to the page body.

function incidentRows() {
  return [...view.rows.querySelectorAll("tr.incident-row:not(.row-removed)")];
}

function selectedRow() {
  return view.rows.querySelector("tr.incident-row.is-selected");
}

/** Mark `row` as the selection (one at a time). */
function markSelected(row) {
  for (const other of view.rows.querySelectorAll("tr.is-selected")) {
    if (other !== row) {
      other.classList.remove("is-selected");
      other.removeAttribute("aria-current");
    }
  }
  row?.classList.add("is-selected");
  row?.setAttribute("aria-current", "true");
}

/** Select `row` and move the focus to its link (a visible focus ring), scrolled into view. */
function selectRow(row) {
  if (!row) return;
  markSelected(row);
  row.querySelector(".incident-link")?.focus({ preventScroll: true });
  row.scrollIntoView({ block: "nearest" });
}

function moveSelection(step) {
  const all = incidentRows();
  if (!all.length) return;
  const current = all.indexOf(selectedRow());
  const next = current === -1 ? 0 : Math.min(Math.max(current + step, 0), all.length - 1);
  selectRow(all[next]);
}

function focusResults() {
  const first = incidentRows()[0];
  if (first) {
    selectRow(first);
  } else {
    view.resultsHeading.focus();
  }
}

/** Enter: open the selected incident; on any other link or button, what Enter does there. */
function openSelected() {
  const active = document.activeElement;
  const inRows = active instanceof Element ? active.closest("#rows tr.incident-row") : null;
  const onNothing = !active || active === document.body || active === view.resultsHeading;
  const row = inRows ?? (onNothing ? selectedRow() : null);
  if (row) {
    location.assign(row.dataset.href);
  } else if (active instanceof HTMLElement && active.matches("a[href], button, [role=button], summary")) {
    active.click();
  }
}

function focusSearch() {
  setFiltersOpen(true);
  view.search.focus();
  view.search.select();
}

function bindShortcuts() {
  addShortcut("/", "Search", focusSearch);
  addShortcut("j", "Next incident in the list", () => moveSelection(1));
  addShortcut("k", "Previous incident in the list", () => moveSelection(-1));
  addShortcut("Enter", "Open the selected incident", openSelected);
  view.rows.addEventListener("focusin", (event) => markSelected(event.target.closest("tr.incident-row")));
}

// ---------------------------------------------------------------------------
// The filters: on a phone behind a "Filters (N)" button, closed at first; always open on wider screens.

function setFiltersOpen(open) {
  view.form.classList.toggle("is-open", open);
  view.filtersToggle.setAttribute("aria-expanded", String(open));
}

function showError(error) {
  view.table.removeAttribute("aria-busy");
  view.table.classList.remove("is-loading");
  view.table.hidden = true;
  view.rows.replaceChildren();
  shown = new Map();
  reserveRows(0);
  view.summary.textContent = "";
  view.pagination.replaceChildren();
  const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: load }, icon("arrow-clockwise", "me-1"), "Retry");
  replaceChildren(view.message, el("div", { class: "p-3" }, alertBox("danger", error.message, { heading: "Could not load incidents", action: retry })));
}

// ---------------------------------------------------------------------------
// Live changes: rows on screen change in place; other matching incidents are counted in the banner, and the
// page is only read again when the reader asks ("show"), so nothing moves under them.

// What a row shows: a change to anything else (a note, updated_at) leaves the row alone.
const ROW_FIELDS = ["title", "service", "severity", "status", "commander", "created_at", "updated_at", "resolved_at", "archived_at"];

function rowValue(incident, name) {
  const value = incident[name] ?? null;
  return name === "commander" ? (value?.id ?? null) : value;
}

function rowOf(id) {
  return view.rows.querySelector(`tr.incident-row[data-id="${CSS.escape(String(id))}"]`);
}

function clearPending() {
  pending = new Map();
  renderPending();
}

function renderPending() {
  const count = pending.size;
  view.newIncidents.hidden = count === 0;
  if (count === 0) {
    view.newIncidents.replaceChildren();
    return;
  }
  const allNew = [...pending.values()].every((kind) => kind === "created");
  const noun = allNew ? (count === 1 ? "new incident" : "new incidents") : count === 1 ? "new or changed incident" : "new or changed incidents";
  replaceChildren(view.newIncidents, icon("arrow-up", "me-1"), `${count} ${noun}, show`);
}

/** Briefly highlight a row (the class goes when its animation ends). */
function flash(row) {
  row.classList.remove("row-updated");
  void row.offsetWidth; // restart the animation on a second change
  row.classList.add("row-updated");
  row.addEventListener("animationend", () => row.classList.remove("row-updated"), { once: true });
}

function fadeOut(row, id) {
  shown.delete(id);
  row.classList.add("row-removed");
  row.setAttribute("aria-hidden", "true");
  let gone = false;
  const remove = () => {
    if (gone) return;
    gone = true;
    row.remove();
    if (!view.rows.querySelector(".incident-row")) load(); // the page emptied: read it again
  };
  row.addEventListener("animationend", remove, { once: true });
  setTimeout(remove, 1_500); // no animation (reduced motion): go all the same
}

function markStale(row) {
  row.classList.add("row-stale");
  const cell = row.querySelector(".incident-id");
  if (cell && !cell.querySelector(".stale-mark")) {
    cell.append(el("span", { class: "stale-mark", title: "No longer matches the filters" }, icon("funnel"), el("span", { class: "visually-hidden" }, "No longer matches the filters")));
  }
}

function onChange({ event, incident }) {
  const id = incident.id;
  const row = rowOf(id);
  if (row && !row.classList.contains("row-removed")) {
    const before = shown.get(id) ?? {};
    shown.set(id, incident);
    if (Boolean(incident.archived_at) !== state.archived) {
      fadeOut(row, id); // archived (or restored) out of this view
      return;
    }
    if (ROW_FIELDS.every((name) => rowValue(before, name) === rowValue(incident, name))) return;
    const next = incidentRow(incident);
    const selected = row.classList.contains("is-selected");
    const focused = row.contains(document.activeElement);
    row.replaceWith(next);
    if (selected) markSelected(next);
    if (focused) next.querySelector(".incident-link")?.focus({ preventScroll: true });
    if (!matchesState(incident, state, { userId: user?.id ?? null })) markStale(next);
    flash(next);
    return;
  }
  if (!matchesState(incident, state, { userId: user?.id ?? null })) {
    pending.delete(id);
    renderPending();
    return;
  }
  if (event.action === "note_added") return; // nothing a row shows
  pending.set(id, pending.get(id) === "created" || event.action === "created" ? "created" : "changed");
  renderPending();
}

function onRemoved({ incidentId }) {
  const row = rowOf(incidentId);
  if (row && !row.classList.contains("row-removed")) fadeOut(row, incidentId);
  if (pending.delete(incidentId)) renderPending();
}

function startLive() {
  const live = connectLive({ indicator: view.liveStatus });
  live.addEventListener("change", (event) => onChange(event.detail));
  live.addEventListener("removed", (event) => onRemoved(event.detail));
  live.addEventListener("resync", () => load());
  view.newIncidents.addEventListener("click", () => {
    load();
    view.table.scrollIntoView({ block: "nearest" });
  });
}

// ---------------------------------------------------------------------------
// Loading and state changes

async function load({ focus = false } = {}) {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  clearPending(); // what the banner counted is in the page being read (or belongs to another view)
  rememberListQuery(location.search);
  showLoading();
  try {
    const data = await listIncidents(apiParams(state), { signal: controller.signal });
    if (inFlight === controller) showPage(data, { focus });
  } catch (error) {
    if (error.name !== "AbortError" && inFlight === controller) showError(error);
  }
}

/** Apply a change: new URL (history entry), controls, data. */
function update(changes, { kind = null, focus = false } = {}) {
  clearTimeout(searchTimer);
  const typed = view.search.value.trim();
  if (!("search" in changes) && typed !== state.search) {
    changes = { ...changes, search: typed, page: 1 }; // a search still waiting for its delay goes along
  }
  state = { ...state, cursor: null, ...changes }; // a cursor belongs to the one view it was made for
  const url = listUrl(state);
  if (url !== `${location.pathname}${location.search}`) {
    const replace = kind === "search" && lastChange === "search";
    history[replace ? "replaceState" : "pushState"](null, "", url);
  }
  lastChange = kind;
  renderControls();
  load({ focus });
}

function clearFilters() {
  view.search.value = "";
  update(clearedFilters(state));
}

function commitSearch() {
  const search = view.search.value.trim();
  if (search !== state.search) update({ search, page: 1 }, { kind: "search" });
}

function bindEvents() {
  view.search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(commitSearch, SEARCH_DELAY_MS);
  });
  view.form.addEventListener("submit", (event) => {
    event.preventDefault(); // Enter searches at once
    commitSearch();
  });
  for (const box of view.filterBoxes) {
    box.addEventListener("change", () => {
      const checked = view.filterBoxes.filter((b) => b.name === box.name && b.checked).map((b) => b.value);
      update({ [box.name]: checked, page: 1 });
    });
  }
  for (const radio of view.commanderRadios) {
    radio.addEventListener("change", () => {
      if (radio.checked) update({ commander: radio.value, page: 1 });
    });
  }
  view.filtersToggle.addEventListener("click", () => setFiltersOpen(!view.form.classList.contains("is-open")));
  view.clearFilters.addEventListener("click", clearFilters);
  view.showArchived.addEventListener("change", () => update(archivedChanges(view.showArchived.checked)));
  view.limit.addEventListener("change", () => update({ limit: Number(view.limit.value), page: 1 }));

  for (const th of view.headers) {
    th.querySelector("button").addEventListener("click", () => update({ ...nextSort(state, th.dataset.sort), page: 1 }));
  }

  // Page links are real links (open in a new tab works); a plain click stays on the page.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-page], a[data-archived], a[data-view]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (link.dataset.view !== undefined) {
      update(viewChanges(link.dataset.view), { focus: true });
      return;
    }
    if (link.dataset.archived !== undefined) {
      update(archivedChanges(link.dataset.archived === "true"), { focus: true });
      return;
    }
    update({ page: Number(link.dataset.page), cursor: link.dataset.cursor ?? null }, { focus: true });
  });

  // A click anywhere on a row opens the incident (the title link also works with the keyboard).
  view.rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, select, label")) return;
    if (String(window.getSelection?.() ?? "") !== "") return; // the user is selecting text
    if (event.ctrlKey || event.metaKey) {
      window.open(row.dataset.href, "_blank", "noopener");
    } else {
      location.assign(row.dataset.href);
    }
  });

  window.addEventListener("popstate", () => {
    clearTimeout(searchTimer);
    state = readState();
    lastChange = null;
    renderControls();
    load();
  });

  setInterval(() => {
    refreshRelativeTimes(view.rows);
    for (const row of incidentRows()) {
      const incident = shown.get(Number(row.dataset.id));
      const age = row.querySelector(".incident-age");
      if (incident && age) age.replaceWith(ageElement(incident));
    }
  }, 60_000);
}

// Signed out: off to sign in. Otherwise the list loads while the API says who this is; only the
// archived view waits for that, since only admins may see it.
const signedIn = startSignedInPage().then(
  (me) => {
    user = me;
    renderRole();
  },
  () => renderRole(), // the list's own request will show what is wrong
);
if (stateFromQuery(location.search).archived) {
  await signedIn;
  state = readState();
}
// Normalise the address (drops unknown or invalid parameters) without adding a history entry.
history.replaceState(null, "", listUrl(state));
renderControls();
bindEvents();
bindShortcuts();
mountExportButton($("#export-csv"), $("#export-message"), () => state);
startLive();
load();
