// One incident: every field, who created and last changed it, its timeline (audit events and notes),
// and what the signed-in role may do: edit and add notes (responders, admins), archive and restore (admins).

import {
  addNote,
  archiveIncident,
  currentPageUrl,
  getIncident,
  listAllEvents,
  onSessionExpired,
  restoreIncident,
  updateIncident,
} from "./api.js";
import {
  alertBox,
  el,
  icon,
  refreshRelativeTimes,
  replaceChildren,
  session,
  severityBadge,
  statusBadge,
  timeElement,
} from "./dom.js";
import {
  FLASH_KEY,
  changedFields,
  clearErrorsOnEdit,
  clearServerErrors,
  fillForm,
  fillFromDraft,
  readRaw,
  saveDraft,
  setBusy,
  showApiError,
  takeDraft,
  validate,
} from "./forms.js";
import { listPageUrl } from "./list-state.js";
import { can } from "./roles.js";
import { startSignedInPage } from "./session.js";
import { eventCountText, eventItem } from "./timeline.js";

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
};
const field = (name) => document.querySelector(`[data-field="${name}"]`);

const query = new URLSearchParams(location.search);
const idText = query.get("id") ?? "";
let askArchived = ["1", "true"].includes(query.get("archived") ?? ""); // admins: look among the archived too

let user = null; // the signed-in user ({display_name, role, ...}), null if the API could not say
let incident = null; // the server's last answer
let events = []; // the timeline, oldest first
let eventsRequest = null;

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
  const archived = isArchived();
  view.editCard.hidden = archived || !can(user, "edit");
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

function render(data) {
  incident = data;
  document.title = `#${data.id} ${data.title} · Incident Tracker`;

  field("id-heading").textContent = `#${data.id}`;
  replaceChildren(field("severity-heading"), severityBadge(data.severity));
  replaceChildren(field("status-heading"), statusBadge(data.status));
  field("title-heading").textContent = data.title;

  field("id").textContent = String(data.id);
  field("title").textContent = data.title;
  field("service").textContent = data.service;
  replaceChildren(field("severity"), severityBadge(data.severity));
  replaceChildren(field("status"), statusBadge(data.status));
  replaceChildren(
    field("description"),
    data.description ? data.description : el("span", { class: "text-body-secondary" }, "No description"),
  );
  for (const name of ["created_at", "updated_at", "mitigated_at", "resolved_at"]) {
    replaceChildren(field(name), timeOrNever(data[name]));
  }
  replaceChildren(field("created_by"), person(data.created_by));
  replaceChildren(field("updated_by"), person(data.updated_by));

  const archived = isArchived();
  view.archivedBadge.hidden = !archived;
  view.archivedBanner.hidden = !archived;
  if (archived) {
    replaceChildren(field("archived_by"), person(data.archived_by));
    replaceChildren(field("archived_at"), timeElement(data.archived_at));
  }
  field("archive-title").textContent = `#${data.id} ${data.title}`;

  fillForm(view.form, data);
  renderControls();
  syncAddress();
  show("incident");
}

function showLoadError(error, id) {
  const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: () => load(id) }, icon("arrow-clockwise", "me-1"), "Retry");
  view.pageMessages.replaceChildren(alertBox("danger", error.message, { heading: "Could not load the incident", action: retry }));
  show(null);
}

/** A message from the previous page (e.g. "Incident #5 created."), shown once. */
function showFlash() {
  const message = session.take(FLASH_KEY);
  if (message) {
    view.pageMessages.replaceChildren(alertBox("success", message, { dismissible: true }));
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
    events = loaded;
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

async function save(event) {
  event.preventDefault();
  view.formMessages.replaceChildren();
  view.pageMessages.replaceChildren();
  clearServerErrors(view.form);
  if (!validate(view.form)) return;

  const patch = changedFields(readRaw(view.form), incident);
  if (Object.keys(patch).length === 0) {
    view.formMessages.replaceChildren(alertBox("info", "No changes to save"));
    return;
  }

  setBusy(view.form, true);
  try {
    render(await updateIncident(incident.id, patch));
    view.formMessages.replaceChildren(alertBox("success", "Saved"));
    loadEvents(); // the change is now in the timeline
  } catch (error) {
    showApiError(view.form, view.formMessages, error, "The changes were not saved");
  } finally {
    setBusy(view.form, false);
  }
}

function discard(event) {
  event.preventDefault(); // a plain reset would restore the HTML defaults, not the incident
  view.formMessages.replaceChildren();
  clearServerErrors(view.form);
  view.form.classList.remove("was-validated");
  fillForm(view.form, incident);
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
    const added = await addNote(incident.id, view.note.value.trim());
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
    const archived = await archiveIncident(incident.id);
    window.bootstrap.Modal.getOrCreateInstance(view.archiveModal).hide();
    view.archiveModal.addEventListener("hidden.bs.modal", () => view.restoreButton.focus(), { once: true });
    view.formMessages.replaceChildren();
    view.pageMessages.replaceChildren(); // the archived banner says what happened
    render(archived);
    loadEvents();
  } catch (error) {
    view.archiveMessages.replaceChildren(alertBox("danger", error.message, { heading: "The incident was not archived" }));
  } finally {
    setButtonBusy(view.archiveConfirm, false);
  }
}

async function restore() {
  view.pageMessages.replaceChildren();
  setButtonBusy(view.restoreButton, true);
  try {
    const restored = await restoreIncident(incident.id);
    render(restored);
    pageMessage("success", `Incident #${restored.id} restored.`);
    loadEvents();
  } catch (error) {
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
  const edited = !view.editCard.hidden && Object.keys(changedFields(raw, incident)).length > 0;
  const note = view.noteSection.hidden ? "" : view.note.value;
  if (edited || note.trim()) {
    saveDraft(currentPageUrl(), { fields: edited ? raw : null, note });
  }
}

function restoreDraft() {
  const draft = takeDraft(currentPageUrl());
  if (!draft || isArchived()) return;
  let restored = false;
  if (draft.fields && typeof draft.fields === "object" && !view.editCard.hidden) {
    fillFromDraft(view.form, draft.fields);
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
onSessionExpired(keepDraft);
setInterval(() => refreshRelativeTimes(view.incident), 60_000);

// Who is signed in (asked while the incident loads); signed out: off to sign in.
const userReady = startSignedInPage().then(
  (me) => {
    user = me;
  },
  () => {
    user = null; // the API could not say; the incident's own request shows what is wrong
  },
);

if (/^[1-9]\d{0,15}$/.test(idText)) {
  load(idText);
} else {
  showNotFound(idText ? `"${idText}" is not a valid incident ID.` : "No incident ID was given.");
}
