// The "New incident" form: client-side checks first, then POST; the API's 422 lands on the fields.

import { createIncident } from "./api.js";
import { session } from "./dom.js";
import { listPageUrl } from "./list-state.js";
import { FLASH_KEY, cleanValue, clearErrorsOnEdit, clearServerErrors, readRaw, setBusy, showApiError, validate } from "./forms.js";

const form = document.querySelector("#incident-form");
const messages = document.querySelector("#form-messages");

// "Incidents" and "Cancel" return to the list as it was left.
for (const link of document.querySelectorAll("a.back-to-list")) {
  link.href = listPageUrl();
}

function newIncidentFromForm() {
  const raw = readRaw(form);
  const data = {};
  for (const name of ["title", "service", "severity", "status", "description"]) {
    const value = cleanValue(name, raw[name]);
    if (value !== null) data[name] = value; // no description: leave it out
  }
  return data;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  messages.replaceChildren();
  clearServerErrors(form);
  if (!validate(form)) return;

  setBusy(form, true);
  try {
    const incident = await createIncident(newIncidentFromForm());
    session.set(FLASH_KEY, `Incident #${incident.id} created.`);
    location.assign(`detail.html?id=${encodeURIComponent(incident.id)}`);
  } catch (error) {
    setBusy(form, false);
    showApiError(form, messages, error, "The incident was not created");
  }
});

clearErrorsOnEdit(form);
