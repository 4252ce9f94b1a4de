// The "New incident" form: client-side checks first, then POST; the API's 422 lands on the fields.
// Only responders and admins get the form; a viewer is told why not.

import { createIncident, currentPageUrl, newIdempotencyKey, onSessionExpired } from "./api.js";
import { alertBox, session } from "./dom.js";
import { listPageUrl } from "./list-state.js";
import {
  FLASH_KEY,
  cleanValue,
  clearErrorsOnEdit,
  clearServerErrors,
  fillFromDraft,
  readRaw,
  saveDraft,
  setBusy,
  showApiError,
  takeDraft,
  validate,
} from "./forms.js";
import { fillCommanderSelect, loadPeople, showSeverityDefinition } from "./incident-fields.js";
import { can, roleLabel } from "./roles.js";
import { startSignedInPage } from "./session.js";

const form = document.querySelector("#incident-form");
const messages = document.querySelector("#form-messages");
const loading = document.querySelector("#loading");
const notAllowed = document.querySelector("#not-allowed");

// The Idempotency-Key of the last attempt and what it sent: sending the same incident again (a double click, a
// retry after a lost answer) reuses the key, so the API makes it once; a changed form is a new request.
let attempt = null;

// "Incidents" and "Cancel" return to the list as it was left.
for (const link of document.querySelectorAll("a.back-to-list")) {
  link.href = listPageUrl();
}

function newIncidentFromForm() {
  const raw = readRaw(form);
  const data = {};
  for (const name of ["title", "service", "severity", "status", "description", "commander_id"]) {
    const value = cleanValue(name, raw[name]);
    if (value !== null) data[name] = value; // no description: leave it out
  }
  return data;
}

async function submit(event) {
  event.preventDefault();
  messages.replaceChildren();
  clearServerErrors(form);
  if (!validate(form)) return;

  setBusy(form, true);
  try {
    const data = newIncidentFromForm();
    const body = JSON.stringify(data);
    if (attempt?.body !== body) attempt = { body, key: newIdempotencyKey() };
    const incident = await createIncident(data, { idempotencyKey: attempt.key });
    session.set(FLASH_KEY, `Incident #${incident.id} created.`);
    location.assign(`detail.html?id=${encodeURIComponent(incident.id)}`);
  } catch (error) {
    setBusy(form, false);
    showApiError(form, messages, error, "The incident was not created");
  }
}

const commander = form.elements.namedItem("commander_id");
const commanderMe = document.querySelector("#commander-me");

/** The commander select: no one by default, "Me" first, then every active person by name. */
async function offerCommanders(me) {
  fillCommanderSelect(commander, [], { me });
  if (me) {
    commanderMe.hidden = false;
    commanderMe.addEventListener("click", () => {
      commander.value = String(me.id);
      commander.focus();
    });
  }
  try {
    fillCommanderSelect(commander, await loadPeople(), { me });
  } catch {
    // "No commander" and "Me" are still offered; anyone else can be chosen later on the incident's page
  }
}

function showForm() {
  const refreshSeverity = showSeverityDefinition(form.elements.namedItem("severity"), document.querySelector("#severity-help"));
  const draft = takeDraft(currentPageUrl());
  if (draft) {
    fillFromDraft(form, draft);
    refreshSeverity();
    messages.replaceChildren(alertBox("info", "You were signed out; what you had typed is back. Create the incident when you are ready.", { dismissible: true }));
  }
  loading.hidden = true;
  form.hidden = false;
  form.addEventListener("submit", submit);
  clearErrorsOnEdit(form);
  // An expired session sends the person to sign in: keep what they typed for the way back.
  onSessionExpired(() => saveDraft(currentPageUrl(), readRaw(form)));
  if (!draft) form.elements.namedItem("title").focus();
}

let user = null;
try {
  user = await startSignedInPage();
} catch (error) {
  // The API could not say who this is (it may be down): offer the form; the API decides on submit.
  messages.replaceChildren(alertBox("warning", error.message, { heading: "Could not load your account" }));
}

if (user && !can(user, "create")) {
  document.title = "Not allowed · Incident Tracker";
  document.querySelector("#not-allowed-reason").textContent =
    `Your role (${roleLabel(user.role).toLowerCase()}) cannot create incidents. Ask an admin if you need to report one.`;
  loading.hidden = true;
  notAllowed.hidden = false;
} else {
  showForm();
  offerCommanders(user);
}
