// The incident form shared by create.html and detail.html: reading values, Bootstrap
// client-side validation, and the API's 422 field errors shown on the matching inputs.

import { alertBox, el, session } from "./dom.js";

export const FIELDS = ["title", "service", "severity", "status", "description", "commander_id"];

// sessionStorage key for a one-time message shown by the next page ("Incident #5 created.").
export const FLASH_KEY = "incident-tracker:flash";

function control(form, name) {
  const item = form.elements.namedItem(name);
  return item instanceof HTMLElement ? item : null;
}

function feedbackFor(input) {
  return document.getElementById(`${input.id}-feedback`);
}

/** The raw values of the form's fields, as typed. */
export function readRaw(form) {
  const values = {};
  for (const name of FIELDS) {
    const input = control(form, name);
    if (input) values[name] = input.value;
  }
  return values;
}

/** A field's value in an incident as the API sends it: the commander is `commander: {id, ...}`, sent as its id. */
export function formValue(incident, name) {
  if (name === "commander_id") return incident?.commander?.id ?? null;
  return incident?.[name] ?? null;
}

/** Values to send: title and service trimmed, an empty description as null, the commander as an id (or null). */
export function cleanValue(name, raw) {
  if (name === "commander_id") return raw === "" ? null : Number(raw);
  const text = raw.trim();
  if (name === "description") return text === "" ? null : text;
  return name === "title" || name === "service" ? text : raw;
}

/**
 * The fields whose value the user changed, with the values to send (for a PATCH).
 * A field only counts when its text differs and its cleaned value differs from the server's.
 */
export function changedFields(raw, current) {
  const patch = {};
  for (const name of FIELDS) {
    if (raw[name] === undefined || raw[name] === (current[name] ?? "")) continue;
    const value = cleanValue(name, raw[name]);
    if (value !== (current[name] ?? null)) patch[name] = value;
  }
  return patch;
}

/** Fill the form from an incident. */
export function fillForm(form, incident) {
  for (const name of FIELDS) {
    const input = control(form, name);
    if (input) input.value = formValue(incident, name) ?? "";
  }
}

/** Remove the marks left by a previous server answer. */
export function clearServerErrors(form) {
  for (const input of form.querySelectorAll(".is-invalid")) {
    clearFieldError(input);
  }
}

function clearFieldError(input) {
  input.classList.remove("is-invalid");
  input.removeAttribute("aria-invalid");
  const feedback = feedbackFor(input);
  if (feedback && feedback.dataset.clientMessage !== undefined) {
    feedback.textContent = feedback.dataset.clientMessage;
  }
}

/**
 * Show the API's field errors ({title: "msg"}) on the inputs named in `fields`; returns the messages
 * that match no input (to show in the alert instead).
 */
export function showFieldErrors(form, fieldErrors, fields = FIELDS) {
  const unmatched = [];
  for (const [name, message] of Object.entries(fieldErrors)) {
    const input = fields.includes(name) ? control(form, name) : null;
    if (!input) {
      unmatched.push(name && name !== "body" ? `${name}: ${message}` : message);
      continue;
    }
    const feedback = feedbackFor(input);
    if (feedback) {
      feedback.dataset.clientMessage ??= feedback.textContent;
      feedback.textContent = message;
    }
    input.classList.add("is-invalid");
    input.setAttribute("aria-invalid", "true");
  }
  return unmatched;
}

/** Bootstrap's client-side validation; true when the form may be sent. */
export function validate(form) {
  if (form.checkValidity()) {
    form.classList.remove("was-validated"); // from here on the server's is-invalid marks rule
    return true;
  }
  form.classList.add("was-validated");
  form.querySelector(":invalid")?.focus();
  return false;
}

/** A server field error goes away as soon as the user edits that field. */
export function clearErrorsOnEdit(form) {
  const handler = (event) => {
    if (event.target.classList?.contains("is-invalid")) clearFieldError(event.target);
  };
  form.addEventListener("input", handler);
  form.addEventListener("change", handler);
}

/** Disable the submit button while a request runs. */
export function setBusy(form, busy) {
  const button = form.querySelector("[type=submit]");
  button.disabled = busy;
  form.setAttribute("aria-busy", String(busy));
  form.querySelector(".busy-indicator")?.toggleAttribute("hidden", !busy);
}

/** Show an ApiError: field errors on the inputs, the problem's detail in an alert in `messages`. */
export function showApiError(form, messages, error, heading, { fields = FIELDS } = {}) {
  const unmatched = showFieldErrors(form, error.fieldErrors ?? {}, fields);
  const details = unmatched.length ? el("ul", { class: "mb-0 mt-1" }, unmatched.map((m) => el("li", {}, m))) : null;
  messages.replaceChildren(alertBox("danger", [error.message, details], { heading }));
  const firstInvalid = form.querySelector(".is-invalid");
  if (firstInvalid) firstInvalid.focus();
}

// ---------------------------------------------------------------------------
// Drafts: unsaved form values kept across a trip to the sign-in page (when the session expires), in
// sessionStorage, keyed by the page's path and query, and read once on the way back.

const DRAFT_PREFIX = "incident-tracker:draft:";

function draftKey(pageUrl) {
  return `${DRAFT_PREFIX}${pageUrl}`;
}

/** Keep `values` ({field: text}) for the page at `pageUrl` ("/detail.html?id=5"). */
export function saveDraft(pageUrl, values) {
  session.set(draftKey(pageUrl), JSON.stringify(values));
}

/** The draft kept for this page, removed as it is read; null when there is none. */
export function takeDraft(pageUrl) {
  const text = session.take(draftKey(pageUrl));
  if (!text) return null;
  try {
    const values = JSON.parse(text);
    return values && typeof values === "object" ? values : null;
  } catch {
    return null;
  }
}

/** Put a draft's values ({name: text}) into the form's fields of those names. */
export function fillFromDraft(form, values, fields = FIELDS) {
  for (const name of fields) {
    const input = control(form, name);
    if (input && typeof values[name] === "string") input.value = values[name];
  }
}
