// One incident: every field, and an edit form that PATCHes only what changed.

import { getIncident, updateIncident } from "./api.js";
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
  readRaw,
  setBusy,
  showApiError,
  validate,
} from "./forms.js";
import { listPageUrl } from "./list-state.js";

const $ = (selector) => document.querySelector(selector);
const view = {
  loading: $("#loading"),
  notFound: $("#not-found"),
  notFoundReason: $("#not-found-reason"),
  incident: $("#incident"),
  pageMessages: $("#page-messages"),
  form: $("#incident-form"),
  formMessages: $("#form-messages"),
};
const field = (name) => document.querySelector(`[data-field="${name}"]`);

let incident = null; // the server's last answer

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

  fillForm(view.form, data);
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

// ---------------------------------------------------------------------------
// Loading and saving

async function load(id) {
  view.pageMessages.replaceChildren();
  show("loading");
  try {
    render(await getIncident(id));
    showFlash();
  } catch (error) {
    if (error.status === 404) {
      showNotFound(`There is no incident with ID ${id}.`);
    } else {
      showLoadError(error, id);
    }
  }
}

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

for (const link of document.querySelectorAll("a.back-to-list")) {
  link.href = listPageUrl();
}

view.form.addEventListener("submit", save);
view.form.addEventListener("reset", discard);
clearErrorsOnEdit(view.form);
setInterval(() => refreshRelativeTimes(view.incident), 60_000);

const idText = new URLSearchParams(location.search).get("id") ?? "";
if (/^[1-9]\d{0,15}$/.test(idText)) {
  load(idText);
} else {
  showNotFound(idText ? `"${idText}" is not a valid incident ID.` : "No incident ID was given.");
}
