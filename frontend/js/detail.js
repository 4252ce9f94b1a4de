// One incident as a console: every fact once, the next lifecycle step in one click (with an optional comment),
// "Take command", how long each step took, the timeline (audit events and notes), and the edit form on demand
// (Edit or `e`; Escape or Cancel closes it). What the signed-in role may do: edit, take command and add notes
// (responders, admins), archive and restore (admins).

import {
  addNote,
  archiveIncident,
  currentPageUrl,
  getIncident,
  listAllEvents,
  newIdempotencyKey,
  onSessionExpired,
  restoreIncident,
  updateIncident,
} from "./api.js";
import {
  alertBox,
  el,
  formatDuration,
  formatDurationExact,
  formatExact,
  icon,
  isoDuration,
  parseApiDate,
  refreshRelativeTimes,
  replaceChildren,
  session,
  severityBadge,
  severityDefinition,
  statusBadge,
  statusLabel,
  timeElement,
} from "./dom.js";
import {
  FIELDS,
  FLASH_KEY,
  changedFields,
  clearErrorsOnEdit,
  clearServerErrors,
  fillForm,
  fillFromDraft,
  formValue,
  readRaw,
  saveDraft,
  setBusy,
  showApiError,
  takeDraft,
  validate,
} from "./forms.js";
import { fillCommanderSelect, loadPeople, showSeverityDefinition } from "./incident-fields.js";
import { listPageUrl } from "./list-state.js";
import { connectLive } from "./live.js";
import { can } from "./roles.js";
import { startSignedInPage } from "./session.js";
import { addShortcut } from "./shortcuts.js";
import { eventCountText, eventItem, fieldLabel, valueText } from "./timeline.js";

const $ = (selector) => document.querySelector(selector);
const view = {
  loading: $("#loading"),
  notFound: $("#not-found"),
  notFoundReason: $("#not-found-reason"),
  incident: $("#incident"),
  pageMessages: $("#page-messages"),
  readOnlyNote: $("#read-only-note"),
  editCard: $("#edit-card"),
  form: $("#incident-form"),
  formMessages: $("#form-messages"),
  archivedBadge: $('[data-field="archived-heading"]'),
  archivedBanner: $("#archived-banner"),
  archiveButton: $("#archive-button"),
  restoreButton: $("#restore-button"),
  archiveModal: $("#archive-modal"),
  archiveConfirm: $("#archive-confirm"),
  archiveMessages: $("#archive-messages"),
  events: $("#events"),
  eventCount: $("#event-count"),
  timelineLoading: $("#timeline-loading"),
  timelineMessages: $("#timeline-messages"),
  noteSection: $("#note-section"),
  noteForm: $("#note-form"),
  note: $("#note"),
  noteMessages: $("#note-messages"),
  mergePrompt: $("#merge-prompt"),
  liveStatus: $("#live-status"),
  console: $("#console"),
  stepForm: $("#step-form"),
  stepButtons: $("#step-buttons"),
  stepComment: $("#step-comment"),
  actionMessages: $("#action-messages"),
  editButton: $("#edit-button"),
  takeCommand: $("#take-command"),
  commander: $("#commander"),
  severity: $("#severity"),
  severityHelp: $("#severity-help"),
  heading: $('[data-field="title-heading"]'),
};
// A shown fact, by name; not a timeline entry, which names the fields it changed the same way.
const field = (name) => document.querySelector(`[data-field="${name}"]:not(#events *)`);

const query = new URLSearchParams(location.search);
const idText = query.get("id") ?? "";
let askArchived = ["1", "true"].includes(query.get("archived") ?? ""); // admins: look among the archived too

let user = null; // the signed-in user ({display_name, role, ...}), null if the API could not say
let incident = null; // the server's last answer
let events = []; // the timeline, oldest first
let eventsRequest = null;
// What the reader's edits are relative to: the version to send as If-Match and, field by field, the value the
// reader started from. Fields they are not editing follow every live change; a field they are editing keeps
// the value it started from (and the version stays behind) until they save, take the other's value or discard.
let base = { version: null, values: {} };
let removed = false; // archived by an admin while open (this reader may no longer see it)
let noteAttempt = null; // {text, key}: a retried note keeps its Idempotency-Key
let editOpen = false; // the edit form opens on demand
let people = []; // the active people, once loaded: who can be chosen as commander
let acting = false; // a one-click step or "Take command" is being saved

const isArchived = () => Boolean(incident?.archived_at);

// ---------------------------------------------------------------------------
// Rendering

function show(section) {
  view.loading.hidden = section !== "loading";
  view.notFound.hidden = section !== "not-found";
  view.incident.hidden = section !== "incident";
}

function showNotFound(reason) {
  document.title = "Incident not found · Incident Tracker";
  view.notFoundReason.textContent = reason;
  show("not-found");
}

function timeOrNever(value) {
  return timeElement(value, { exact: true }) ?? el("span", { class: "text-body-secondary" }, "Not yet");
}

/** A person the API names ({id, display_name}), or "System" for what no person did (seeded data). */
function person(ref) {
  return ref ? ref.display_name : el("span", { class: "text-body-secondary fst-italic" }, "System");
}

/** Keep the address in step with what is shown: archived incidents are asked for with archived=1. */
function syncAddress() {
  const url = `${location.pathname}?id=${encodeURIComponent(incident.id)}${isArchived() ? "&archived=1" : ""}`;
  askArchived = isArchived();
  if (url !== currentPageUrl()) history.replaceState(null, "", url);
}

/** Show or hide what the role may use on this incident (the API enforces the same). */
function renderControls() {
  const archived = isArchived() || removed;
  const editable = !archived && can(user, "edit");
  view.console.hidden = !editable;
  view.editCard.hidden = !editable || !editOpen;
  view.editButton.setAttribute("aria-expanded", String(editable && editOpen));
  view.takeCommand.hidden = !editable || !user || incident?.commander?.id === user.id;
  view.noteSection.hidden = archived || !can(user, "note");
  view.archiveButton.hidden = archived || !can(user, "archive");
  view.restoreButton.hidden = !archived || !can(user, "restore");

  const readOnly = user && !can(user, "edit");
  view.readOnlyNote.hidden = !readOnly;
  if (readOnly) {
    view.readOnlyNote.querySelector("span").textContent =
      `Read only: your role (${user.role}) can follow incidents but not change them or add notes.`;
  }
}

/** Everything shown about the incident except the edit form's values. */
function renderIncident(data) {
  incident = data;
  document.title = `#${data.id} ${data.title} · Incident Tracker`;

  field("id-heading").textContent = `#${data.id}`;
  const severity = severityBadge(data.severity);
  severity.title = severityDefinition(data.severity) || data.severity;
  replaceChildren(field("severity-heading"), severity);
  replaceChildren(field("status-heading"), statusBadge(data.status));
  field("title-heading").textContent = data.title;

  field("service").textContent = data.service;
  replaceChildren(
    field("commander"),
    data.commander ? data.commander.display_name : el("span", { class: "text-body-secondary" }, "No commander"),
  );
  replaceChildren(
    field("description"),
    data.description ? data.description : el("span", { class: "text-body-secondary" }, "No description"),
  );
  for (const name of ["created_at", "updated_at", "mitigated_at", "resolved_at"]) {
    replaceChildren(field(name), timeOrNever(data[name]));
  }
  replaceChildren(field("created_by"), person(data.created_by));
  replaceChildren(field("updated_by"), person(data.updated_by));
  renderDurations();
  renderSteps();
  syncCommanderOptions();

  const archived = isArchived();
  view.archivedBadge.hidden = !archived;
  view.archivedBanner.hidden = !archived;
  if (archived) {
    replaceChildren(field("archived_by"), person(data.archived_by));
    replaceChildren(field("archived_at"), timeElement(data.archived_at));
  }
  field("archive-title").textContent = `#${data.id} ${data.title}`;

  renderControls();
  syncAddress();
  show("incident");
}

/** Show the incident and put all of it in the form: the reader starts editing from this version. */
function render(data) {
  renderIncident(data);
  fillForm(view.form, data);
  refreshSeverityHelp();
  setBase(data);
  clearAllChangedMarks();
}

function setBase(data) {
  base = { version: data.version ?? null, values: Object.fromEntries(FIELDS.map((name) => [name, formValue(data, name)])) };
}

// ---------------------------------------------------------------------------
// Durations: time to mitigate, time to resolve, and how long it has been open (kept current every minute)

/** <time datetime="PT2H14M5S" title="exact">2 h 14 min</time> for the time from `from` to `to` (a Date). */
function durationNode(from, to, what) {
  const ms = to.getTime() - from.getTime();
  const exact = `${formatDurationExact(ms)}: ${what}`;
  return el("time", { datetime: isoDuration(ms), title: exact, class: "duration" }, formatDuration(ms));
}

function notYet() {
  return el("span", { class: "text-body-secondary" }, "Not yet");
}

function renderDurations() {
  if (!incident) return;
  const created = parseApiDate(incident.created_at);
  const mitigated = parseApiDate(incident.mitigated_at);
  const resolved = parseApiDate(incident.resolved_at);
  const since = `from ${formatExact(incident.created_at)}`;
  replaceChildren(
    field("time-to-mitigate"),
    created && mitigated ? durationNode(created, mitigated, `${since} to ${formatExact(incident.mitigated_at)}`) : notYet(),
  );
  replaceChildren(
    field("time-to-resolve"),
    created && resolved ? durationNode(created, resolved, `${since} to ${formatExact(incident.resolved_at)}`) : notYet(),
  );
  const open = incident.status !== "RESOLVED";
  replaceChildren(
    field("open-for"),
    open && created
      ? durationNode(created, new Date(), `since ${formatExact(incident.created_at)}`)
      : el("span", { class: "text-body-secondary" }, "No longer open (resolved)"),
  );
}

// ---------------------------------------------------------------------------
// The console: the next lifecycle step in one click, "Take command"

const STEPS = {
  OPEN: [
    { to: "MITIGATED", label: "Mitigate", icon: "shield-fill-check", tone: "btn-warning", done: "Incident mitigated." },
    { to: "RESOLVED", label: "Resolve", icon: "check-circle-fill", tone: "btn-success", done: "Incident resolved." },
  ],
  MITIGATED: [
    { to: "RESOLVED", label: "Resolve", icon: "check-circle-fill", tone: "btn-success", done: "Incident resolved." },
    { to: "OPEN", label: "Reopen", icon: "arrow-counterclockwise", tone: "btn-outline-danger", done: "Incident reopened." },
  ],
  RESOLVED: [
    { to: "OPEN", label: "Reopen", icon: "arrow-counterclockwise", tone: "btn-outline-danger", done: "Incident reopened." },
  ],
};

function renderSteps() {
  const steps = STEPS[incident?.status] ?? [];
  replaceChildren(
    view.stepButtons,
    steps.map((step) =>
      el(
        "button",
        { type: "button", class: `btn ${step.tone} console-action`, dataset: { step: step.to }, disabled: acting, onclick: () => takeStep(step) },
        icon(step.icon, "me-1"),
        step.label,
      ),
    ),
  );
}

function setActing(busy) {
  acting = busy;
  for (const button of [...view.stepButtons.querySelectorAll("button"), view.takeCommand]) button.disabled = busy;
  view.stepForm.setAttribute("aria-busy", String(busy));
  view.stepForm.querySelector(".busy-indicator").hidden = !busy;
}

/** A message about the last action, focused, so that the person hears and sees what happened. */
function actionMessage(kind, message) {
  const box = alertBox(kind, message, { dismissible: kind === "success" });
  box.setAttribute("tabindex", "-1");
  view.actionMessages.replaceChildren(box);
  box.focus();
}

function takeStep(step) {
  view.actionMessages.replaceChildren();
  clearServerErrors(view.stepForm);
  if (!validate(view.stepForm)) return;
  const note = view.stepComment.value.trim();
  act({ status: step.to, ...(note ? { note } : {}) }, "status", step.done);
}

function takeCommand() {
  view.actionMessages.replaceChildren();
  act({ commander_id: user.id }, "commander_id", "You are now the commander.");
}

/**
 * PATCH one change against the version shown (If-Match). Someone else's save in between (412): when they did not
 * touch this field, the change goes again on their version at once, as a save with no field in common does;
 * when they did, the page shows what they did and the person decides again.
 */
async function act(patch, name, done) {
  const started = formValue(incident, name);
  setActing(true);
  try {
    let version = incident.version;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const saved = await updateIncident(incident.id, patch, { version });
        applyRemote(saved);
        if (patch.note) view.stepComment.value = "";
        actionMessage("success", done);
        loadEvents();
        return;
      } catch (error) {
        const current = error.status === 412 ? error.problem?.current : null;
        if (!current) throw error;
        const who = current.updated_by ? current.updated_by.display_name : "Someone else";
        applyRemote(current, who);
        if (formValue(current, name) !== started || attempt >= 2) {
          actionMessage(
            "warning",
            `${who} changed the incident in the meantime: it is ${statusLabel(current.status).toLowerCase()}, ` +
              `${current.commander ? `commanded by ${current.commander.display_name}` : "with no commander"}. ` +
              "Nothing was saved; check it, then choose again.",
          );
          return;
        }
        version = current.version;
      }
    }
  } catch (error) {
    const fields = name === "status" ? ["note"] : [];
    showApiError(view.stepForm, view.actionMessages, error, "Nothing was saved", { fields });
  } finally {
    setActing(false);
  }
}

// ---------------------------------------------------------------------------
// The edit form, on demand

function syncCommanderOptions() {
  fillCommanderSelect(view.commander, people, { me: user, keep: incident?.commander ? [incident.commander] : [] });
}

let refreshSeverityHelp = () => {};

function openEdit() {
  if (!incident || view.console.hidden) return;
  if (!editOpen) {
    editOpen = true;
    view.formMessages.replaceChildren();
    renderControls();
    render(incident); // the form starts from what is shown now
  }
  control("title").focus();
}

function closeEdit() {
  if (!editOpen) return;
  view.formMessages.replaceChildren();
  clearServerErrors(view.form);
  view.form.classList.remove("was-validated");
  hideMerge();
  editOpen = false;
  render(incident);
  renderControls();
  view.editButton.focus();
}

function showLoadError(error, id) {
  const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: () => load(id) }, icon("arrow-clockwise", "me-1"), "Retry");
  view.pageMessages.replaceChildren(alertBox("danger", error.message, { heading: "Could not load the incident", action: retry }));
  show(null);
}

/** A message from the previous page (e.g. "Incident #5 created."), shown once; focus goes to the heading. */
function showFlash() {
  const message = session.take(FLASH_KEY);
  if (message) {
    view.pageMessages.replaceChildren(alertBox("success", message, { dismissible: true }));
    view.heading.focus();
  }
}

function pageMessage(kind, message) {
  view.pageMessages.replaceChildren(alertBox(kind, message, { dismissible: kind !== "danger" }));
}

// ---------------------------------------------------------------------------
// The timeline

function renderEvents() {
  view.eventCount.hidden = false;
  view.eventCount.textContent = eventCountText(events.length);
  if (events.length === 0) {
    replaceChildren(view.events, el("li", { class: "text-body-secondary timeline-empty" }, "No activity recorded yet."));
    return;
  }
  replaceChildren(view.events, events.map(eventItem));
}

async function loadEvents() {
  eventsRequest?.abort();
  const controller = new AbortController();
  eventsRequest = controller;
  view.timelineMessages.replaceChildren();
  view.timelineLoading.hidden = events.length > 0; // a refresh keeps showing the old timeline meanwhile
  try {
    const loaded = await listAllEvents(incident.id, { archived: isArchived(), signal: controller.signal });
    if (eventsRequest !== controller) return;
    // Events that came live while the pages were read stay (the newer ones the pages did not have yet).
    const ids = new Set(loaded.map((item) => item.id));
    const last = loaded.length ? loaded[loaded.length - 1].id : 0;
    events = [...loaded, ...events.filter((item) => !ids.has(item.id) && item.id > last)];
    renderEvents();
  } catch (error) {
    if (error.name === "AbortError" || eventsRequest !== controller) return;
    const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: loadEvents }, icon("arrow-clockwise", "me-1"), "Retry");
    view.timelineMessages.replaceChildren(alertBox("danger", error.message, { heading: "Could not load the timeline", action: retry }));
  } finally {
    if (eventsRequest === controller) view.timelineLoading.hidden = true;
  }
}

// ---------------------------------------------------------------------------
// Loading

/** The incident as this user may see it: an admin following an old link to an archived one still finds it. */
async function fetchIncident(id) {
  try {
    return await getIncident(id, { archived: askArchived });
  } catch (error) {
    if (error.status === 404 && !askArchived && (await userReady, can(user, "viewArchived"))) {
      return getIncident(id, { archived: true });
    }
    throw error;
  }
}

async function load(id) {
  view.pageMessages.replaceChildren();
  show("loading");
  try {
    const [data] = await Promise.all([fetchIncident(id), userReady]); // the role decides what is offered
    render(data);
  } catch (error) {
    if (error.status === 404) {
      showNotFound(`There is no incident with ID ${id}.`);
    } else if (error.status === 403) {
      showNotFound(error.message); // e.g. a viewer following a link to an archived incident
    } else {
      showLoadError(error, id);
    }
    return;
  }
  showFlash();
  restoreDraft();
  loadEvents();
}

// ---------------------------------------------------------------------------
// Editing

function save(event) {
  event?.preventDefault();
  view.formMessages.replaceChildren();
  view.pageMessages.replaceChildren();
  clearServerErrors(view.form);
  if (!validate(view.form)) return;
  if (!mergeChoicesMade()) return;
  send();
}

/** PATCH what the reader changed, against the version they started from (always with If-Match). */
async function send({ merged = false } = {}) {
  const patch = changedFields(readRaw(view.form), base.values);
  if (Object.keys(patch).length === 0) {
    hideMerge();
    view.formMessages.replaceChildren(alertBox("info", merged ? "Nothing left to save: your changes were already there" : "No changes to save"));
    return;
  }

  setBusy(view.form, true);
  try {
    const saved = await updateIncident(incident.id, patch, { version: base.version });
    hideMerge();
    render(saved);
    view.formMessages.replaceChildren(alertBox("success", merged ? "Saved, together with the other changes" : "Saved"));
    loadEvents(); // the change is now in the timeline
  } catch (error) {
    if (error.status === 412) {
      await conflict(error.problem?.current ?? null);
      return;
    }
    showApiError(view.form, view.formMessages, error, "The changes were not saved");
  } finally {
    setBusy(view.form, false);
  }
}

function discard(event) {
  event.preventDefault(); // a plain reset would restore the HTML defaults, not the incident
  closeEdit();
}

// ---------------------------------------------------------------------------
// Someone else's change while the reader edits

function control(name) {
  return view.form.elements.namedItem(name);
}

/** How a field's value reads in a message ("Mitigated", "—" for nothing, a commander by name). */
function shownValue(name, value) {
  if (name === "commander_id") {
    if (value === null || value === undefined || value === "") return "No commander";
    const option = [...view.commander.options].find((item) => item.value === String(value));
    return option ? option.textContent : `#${value}`;
  }
  return valueText(name, value);
}

function clearChangedMark(name) {
  const input = control(name);
  input?.classList.remove("is-changed-underneath");
  view.form.querySelector(`.changed-underneath[data-field-changed="${name}"]`)?.remove();
}

function clearAllChangedMarks() {
  for (const name of FIELDS) clearChangedMark(name);
}

/** Under a field the reader is editing: "Ada Admin changed this to "X" while you were editing". */
function markChanged(name, value, by) {
  const input = control(name);
  if (!input) return;
  const existing = view.form.querySelector(`.changed-underneath[data-field-changed="${name}"]`);
  const who = by ?? existing?.dataset.by ?? "Someone else";
  existing?.remove();
  const take = el(
    "button",
    {
      type: "button",
      class: "btn btn-link btn-sm p-0 align-baseline",
      onclick: () => {
        input.value = value ?? "";
        refreshSeverityHelp();
        base.values[name] = value;
        clearChangedMark(name);
        reconcile();
      },
    },
    "Take theirs",
  );
  const mark = el(
    "div",
    { class: "changed-underneath", dataset: { fieldChanged: name, by: who }, role: "status" },
    icon("exclamation-triangle-fill", "me-1"),
    `${who} changed this to “${shownValue(name, value)}” while you were editing. `,
    take,
  );
  input.classList.add("is-changed-underneath");
  const feedback = document.getElementById(`${input.id}-feedback`);
  (feedback ?? input).after(mark);
}

/**
 * Bring the form in line with `incident` (the latest): a field the reader is not editing takes the new value; one
 * they are editing (changed, or focused) is left alone and marked when the new value is not what it started
 * from. The version the reader edits against moves on only when nothing is marked.
 */
function reconcile(by = null) {
  if (!incident || view.editCard.hidden) return;
  const dirty = changedFields(readRaw(view.form), base.values);
  let behind = false;
  for (const name of FIELDS) {
    const input = control(name);
    if (!input) continue;
    const latest = formValue(incident, name);
    const editing = name in dirty || document.activeElement === input;
    if (!editing) {
      if (input.value !== (latest ?? "")) input.value = latest ?? "";
      base.values[name] = latest;
      clearChangedMark(name);
    } else if (name in dirty && dirty[name] === latest) {
      base.values[name] = latest; // the saved value is what the reader typed (their own save, or the same idea)
      clearChangedMark(name);
    } else if (latest !== (base.values[name] ?? null)) {
      markChanged(name, latest, by);
      behind = true;
    } else if (view.form.querySelector(`.changed-underneath[data-field-changed="${name}"]`)) {
      behind = true;
    }
  }
  if (!behind) base.version = incident.version ?? null;
  refreshSeverityHelp();
}

// Where each field is shown (once).
const SHOWN_AT = {
  title: "title-heading",
  severity: "severity-heading",
  status: "status-heading",
  service: "service",
  description: "description",
  commander_id: "commander",
};

/** Flash the shown fields whose value changed. */
function flashChanged(before, after) {
  for (const [name, shownAt] of Object.entries(SHOWN_AT)) {
    if (formValue(before, name) === formValue(after, name)) continue;
    const node = field(shownAt);
    node.classList.remove("live-updated");
    void node.offsetWidth;
    node.classList.add("live-updated");
  }
}

/** The incident as someone else's change left it. */
function applyRemote(data, by = null) {
  if (!incident || String(data.id) !== String(incident.id)) return;
  if (Number.isFinite(data.version) && Number.isFinite(incident.version) && data.version < incident.version) return;
  const before = incident;
  renderIncident(data);
  flashChanged(before, data);
  if (isArchived()) {
    hideMerge();
    return;
  }
  reconcile(by);
}

function addEvent(item) {
  if (!item || events.some((known) => known.id === item.id)) return;
  events = [...events, item].sort((a, b) => a.id - b.id);
  renderEvents();
  view.events.querySelector(`[data-event-id="${CSS.escape(String(item.id))}"]`)?.classList.add("live-updated");
}

// ---------------------------------------------------------------------------
// A stale save (412): the merge prompt

/**
 * The save was refused: someone saved in between. Field by field: what only they changed is taken, what only
 * the reader changed is kept, and where both changed, the reader chooses. The form holds the reader's values
 * until then; the next save goes against the version `current` is.
 */
async function conflict(current) {
  if (!current) {
    try {
      current = await getIncident(incident.id, { archived: isArchived() });
    } catch (error) {
      showApiError(view.form, view.formMessages, error, "The changes were not saved");
      return;
    }
  }
  const raw = readRaw(view.form);
  const mine = changedFields(raw, base.values);
  const started = base.values;
  const conflicts = [];
  renderIncident(current);
  for (const name of FIELDS) {
    const input = control(name);
    if (!input) continue;
    const theirs = formValue(current, name);
    const theyChanged = theirs !== (started[name] ?? null);
    if (!(name in mine)) {
      input.value = theirs ?? ""; // only they changed it (or nobody): take it
    } else if (theyChanged && mine[name] !== theirs) {
      conflicts.push({ name, mine: raw[name], theirs });
    }
  }
  setBase(current);
  clearAllChangedMarks();
  if (conflicts.length === 0) {
    hideMerge();
    await send({ merged: true });
    return;
  }
  showMerge(conflicts, current.updated_by ? current.updated_by.display_name : "Someone else");
}

function hideMerge() {
  view.mergePrompt.hidden = true;
  view.mergePrompt.replaceChildren();
}

function mergeChoicesMade() {
  if (view.mergePrompt.hidden) return true;
  const open = [...view.mergePrompt.querySelectorAll("fieldset[data-merge-field]")].filter(
    (set) => !set.querySelector("input:checked"),
  );
  if (open.length === 0) return true;
  view.mergePrompt.querySelector(".merge-missing").hidden = false;
  open[0].querySelector("input")?.focus();
  return false;
}

function showMerge(conflicts, who) {
  const rows = conflicts.map(({ name, mine, theirs }) => {
    const input = control(name);
    const id = `merge-${name}`;
    const choose = (value) => () => {
      input.value = value;
      input.dispatchEvent(new Event("input", { bubbles: true })); // clears a server error mark
      refreshSeverityHelp();
      view.mergePrompt.querySelector(".merge-missing").hidden = true;
    };
    return el(
      "fieldset",
      { class: "merge-field", dataset: { mergeField: name } },
      el("legend", { class: "h6 mb-2" }, fieldLabel(name)),
      el(
        "div",
        { class: "row g-2 mb-2" },
        el(
          "div",
          { class: "col-sm-6" },
          el("div", { class: "small text-body-secondary" }, `Theirs (${who})`),
          el("div", { class: "merge-value merge-theirs" }, shownValue(name, theirs)),
        ),
        el(
          "div",
          { class: "col-sm-6" },
          el("div", { class: "small text-body-secondary" }, "Yours"),
          el("div", { class: "merge-value merge-mine" }, shownValue(name, name === "status" || name === "severity" ? mine : mine.trim() || null)),
        ),
      ),
      el(
        "div",
        { class: "d-flex gap-3" },
        el(
          "div",
          { class: "form-check" },
          el("input", { class: "form-check-input", type: "radio", name: id, id: `${id}-mine`, value: "mine", onchange: choose(mine) }),
          el("label", { class: "form-check-label", for: `${id}-mine` }, "Keep mine"),
        ),
        el(
          "div",
          { class: "form-check" },
          el("input", { class: "form-check-input", type: "radio", name: id, id: `${id}-theirs`, value: "theirs", onchange: choose(theirs ?? "") }),
          el("label", { class: "form-check-label", for: `${id}-theirs` }, "Take theirs"),
        ),
      ),
    );
  });
  const heading = el("h3", { class: "h6 alert-heading", tabindex: "-1" }, `${who} saved changes while you were editing`);
  view.mergePrompt.replaceChildren(
    el(
      "div",
      { class: "alert alert-warning mb-3", role: "group", "aria-label": "Resolve the conflicting changes" },
      heading,
      el(
        "p",
        { class: "small mb-3" },
        "Their other changes are in the form now, and yours are kept. Where you both changed a field, choose which to keep, then save.",
      ),
      rows,
      el("p", { class: "merge-missing small text-danger mt-2 mb-0", hidden: true }, "Choose “Keep mine” or “Take theirs” for every field."),
      el(
        "div",
        { class: "mt-3" },
        el("button", { type: "button", class: "btn btn-primary btn-sm", onclick: () => save() }, "Save my choices"),
      ),
    ),
  );
  view.mergePrompt.hidden = false;
  heading.focus();
}

// ---------------------------------------------------------------------------
// Notes

async function submitNote(event) {
  event.preventDefault();
  view.noteMessages.replaceChildren();
  clearServerErrors(view.noteForm);
  view.note.setCustomValidity(view.note.value.trim() ? "" : "Write a note.");
  if (!validate(view.noteForm)) return;

  setBusy(view.noteForm, true);
  try {
    const text = view.note.value.trim();
    if (noteAttempt?.text !== text) noteAttempt = { text, key: newIdempotencyKey() };
    const added = await addNote(incident.id, text, { idempotencyKey: noteAttempt.key });
    noteAttempt = null;
    events = [...events.filter((item) => item.id !== added.id), added];
    renderEvents();
    view.note.value = "";
    view.noteForm.classList.remove("was-validated");
    view.events.lastElementChild?.scrollIntoView({ block: "nearest" });
  } catch (error) {
    showApiError(view.noteForm, view.noteMessages, error, "The note was not added", { fields: ["text"] });
  } finally {
    setBusy(view.noteForm, false);
  }
}

// ---------------------------------------------------------------------------
// Archive and restore (admins)

function setButtonBusy(button, busy) {
  button.disabled = busy;
  button.querySelector(".busy-indicator")?.toggleAttribute("hidden", !busy);
}

async function archive() {
  view.archiveMessages.replaceChildren();
  setButtonBusy(view.archiveConfirm, true);
  try {
    const archived = await archiveIncident(incident.id, { version: incident.version });
    window.bootstrap.Modal.getOrCreateInstance(view.archiveModal).hide();
    editOpen = false;
    view.archiveModal.addEventListener("hidden.bs.modal", () => view.restoreButton.focus(), { once: true });
    view.formMessages.replaceChildren();
    view.pageMessages.replaceChildren(); // the archived banner says what happened
    render(archived);
    loadEvents();
  } catch (error) {
    if (error.status === 412 && error.problem?.current) {
      applyRemote(error.problem.current); // what changed is on the page now: look, then confirm again
      view.archiveMessages.replaceChildren(
        alertBox("warning", "Someone changed the incident in the meantime. Check it, then archive again if you still want to."),
      );
      return;
    }
    view.archiveMessages.replaceChildren(alertBox("danger", error.message, { heading: "The incident was not archived" }));
  } finally {
    setButtonBusy(view.archiveConfirm, false);
  }
}

async function restore() {
  view.pageMessages.replaceChildren();
  setButtonBusy(view.restoreButton, true);
  try {
    const restored = await restoreIncident(incident.id, { version: incident.version });
    render(restored);
    pageMessage("success", `Incident #${restored.id} restored.`);
    loadEvents();
  } catch (error) {
    if (error.status === 412 && error.problem?.current) {
      applyRemote(error.problem.current);
      pageMessage("warning", "Someone changed the incident in the meantime. Check it, then restore again if you still want to.");
      return;
    }
    view.pageMessages.replaceChildren(alertBox("danger", error.message, { heading: "The incident was not restored" }));
  } finally {
    setButtonBusy(view.restoreButton, false);
  }
}

// ---------------------------------------------------------------------------
// Drafts: when the session expires, unsaved edits and a half-written note survive the trip to sign in.

function keepDraft() {
  if (!incident || isArchived()) return;
  const raw = readRaw(view.form);
  const edited = !view.editCard.hidden && Object.keys(changedFields(raw, base.values)).length > 0;
  const note = view.noteSection.hidden ? "" : view.note.value;
  if (edited || note.trim()) {
    saveDraft(currentPageUrl(), { fields: edited ? raw : null, note });
  }
}

function restoreDraft() {
  const draft = takeDraft(currentPageUrl());
  if (!draft || isArchived()) return;
  let restored = false;
  if (draft.fields && typeof draft.fields === "object" && !view.console.hidden) {
    openEdit();
    fillFromDraft(view.form, draft.fields);
    refreshSeverityHelp();
    restored = true;
  }
  if (typeof draft.note === "string" && draft.note && !view.noteSection.hidden) {
    view.note.value = draft.note;
    restored = true;
  }
  if (restored) {
    pageMessage("info", "You were signed out; your unsaved changes are back. Save them when you are ready.");
  }
}

// ---------------------------------------------------------------------------

for (const link of document.querySelectorAll("a.back-to-list")) {
  link.href = listPageUrl();
}

view.form.addEventListener("submit", save);
view.form.addEventListener("reset", discard);
clearErrorsOnEdit(view.form);
view.noteForm.addEventListener("submit", submitNote);
view.note.addEventListener("input", () => view.note.setCustomValidity(""));
clearErrorsOnEdit(view.noteForm);
view.archiveConfirm.addEventListener("click", archive);
view.archiveModal.addEventListener("show.bs.modal", () => view.archiveMessages.replaceChildren());
view.restoreButton.addEventListener("click", restore);
view.editButton.addEventListener("click", openEdit);
view.takeCommand.addEventListener("click", takeCommand);
clearErrorsOnEdit(view.stepForm);
view.stepForm.addEventListener("submit", (event) => event.preventDefault());
view.editCard.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !event.defaultPrevented && !document.querySelector(".modal.show")) {
    event.preventDefault();
    closeEdit();
  }
});
refreshSeverityHelp = showSeverityDefinition(view.severity, view.severityHelp);
addShortcut("e", "Edit the incident", openEdit);
onSessionExpired(keepDraft);
// A field left without a change follows the incident again.
view.form.addEventListener("focusout", () => setTimeout(() => reconcile(), 0));
setInterval(() => {
  refreshRelativeTimes(view.incident);
  renderDurations();
}, 60_000);

// Who is signed in (asked while the incident loads); signed out: off to sign in.
const userReady = startSignedInPage().then(
  (me) => {
    user = me;
    if (can(user, "edit")) {
      loadPeople().then(
        (list) => {
          people = list;
          syncCommanderOptions();
        },
        () => {}, // the select still offers no one, the current commander and "Me"
      );
    }
  },
  () => {
    user = null; // the API could not say; the incident's own request shows what is wrong
  },
);

function startLive() {
  const live = connectLive({ indicator: view.liveStatus });
  live.addEventListener("change", ({ detail }) => {
    if (!incident || String(detail.incident.id) !== String(incident.id)) return;
    applyRemote(detail.incident, detail.event.actor ? detail.event.actor.display_name : null);
    addEvent(detail.event);
  });
  live.addEventListener("removed", ({ detail }) => {
    if (!incident || String(detail.incidentId) !== String(incident.id)) return;
    const edited = !view.editCard.hidden && Object.keys(changedFields(readRaw(view.form), base.values)).length > 0;
    const noted = !view.noteSection.hidden && view.note.value.trim() !== "";
    removed = true;
    hideMerge();
    renderControls();
    // What the reader typed stays on the page, read only, to be copied.
    view.editCard.hidden = !edited;
    view.noteSection.hidden = !noted;
    for (const form of [view.form, view.noteForm]) {
      for (const input of form.querySelectorAll("input, textarea")) input.readOnly = true;
      for (const input of form.querySelectorAll("select, button")) input.disabled = true;
    }
    pageMessage(
      "warning",
      edited || noted
        ? "An admin archived this incident while you were reading it: it can no longer be changed. What you typed is still below, to copy."
        : "An admin archived this incident while you were reading it: it can no longer be changed.",
    );
  });
  live.addEventListener("resync", async () => {
    if (!incident) return;
    try {
      applyRemote(await getIncident(incident.id, { archived: isArchived() }));
      loadEvents();
    } catch {
      // the next change or a reload shows it
    }
  });
}

if (/^[1-9]\d{0,15}$/.test(idText)) {
  startLive();
  load(idText);
} else {
  showNotFound(idText ? `"${idText}" is not a valid incident ID.` : "No incident ID was given.");
}
