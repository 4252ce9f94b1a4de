// The incident form shared by create.html and detail.html: reading values, Bootstrap
// client-side validation, and the API's 422 field errors shown on the matching inputs.
// Every form of a page that loads this module also shows its length limits as you type (see "Limits").

import { alertBox, el, icon, session } from "./dom.js";

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
  refreshLimits(form);
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
  if (input.dataset.limit) updateLimit(input); // still too long: say so again
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
      unmatched.push(message); // the sentence names its field ("Commander cannot be set here.")
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

/** Bootstrap's client-side validation (length limits included); true when the form may be sent. */
export function validate(form) {
  refreshLimits(form);
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

/**
 * Show an ApiError: field errors on the inputs, the problem's detail in an alert in `messages`. When the API
 * cannot be reached, the alert offers to send the form again.
 */
export function showApiError(form, messages, error, heading, { fields = FIELDS } = {}) {
  const fieldErrors = error.fieldErrors ?? {};
  const unmatched = showFieldErrors(form, fieldErrors, fields);
  const marked = Object.keys(fieldErrors).length - unmatched.length;
  let message = error.message;
  if (error.status === 422 && Object.keys(fieldErrors).length > 0) {
    // The sentences are on their fields; the alert says where to look, and lists those of no field here.
    message = marked === 0 ? "Some values need changing:" : marked === 1 ? "Check the marked field." : `Check the ${marked} marked fields.`;
    if (unmatched.length && marked > 0) message += " Also:";
  }
  const details = unmatched.length ? el("ul", { class: "mb-0 mt-1" }, unmatched.map((m) => el("li", {}, m))) : null;
  const action = error.isNetworkError ? retryButton(() => form.requestSubmit()) : null;
  messages.replaceChildren(alertBox("danger", [message, details], { heading, action }));
  const firstInvalid = form.querySelector(".is-invalid");
  if (firstInvalid) firstInvalid.focus();
  else if (action) action.focus();
}

/** A "Retry" button for an alert. */
export function retryButton(onclick, label = "Retry") {
  return el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick }, icon("arrow-clockwise", "me-1"), label);
}

// ---------------------------------------------------------------------------
// Limits. A text field's limit is its `maxlength`, taken over by this module (the attribute is removed, so the
// browser never cuts a paste short): from 80 % of the limit a counter under the field says how many characters
// are used, politely announced; past the limit the field is marked invalid with how much to cut, and the form
// cannot be sent. Lengths are counted as the API counts them: characters (code points) of the text sent,
// trimmed (a password as typed).

const NEAR_LIMIT = 0.8;

function labelText(input) {
  const label = input.id ? document.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null;
  const first = label ? [...label.childNodes].find((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim()) : null;
  return first ? first.textContent.trim() : "This field";
}

/** The length of what would be sent. */
export function sentLength(input) {
  const value = input.type === "password" ? input.value : input.value.trim();
  return [...value].length;
}

function number(count) {
  return count.toLocaleString("en");
}

/** "Title is 250 characters; the limit is 200. Shorten it by 50." */
export function overLimitMessage(label, length, limit) {
  return `${label} is ${number(length)} characters; the limit is ${number(limit)}. Shorten it by ${number(length - limit)}.`;
}

function updateLimit(input) {
  const limit = Number(input.dataset.limit);
  const counter = document.getElementById(`${input.id}-counter`);
  const length = sentLength(input);
  const over = length > limit;
  const near = length >= Math.ceil(limit * NEAR_LIMIT);
  if (counter) {
    counter.hidden = !near;
    counter.classList.toggle("is-over", over);
    if (near) counter.setAttribute("aria-live", "polite");
    else counter.removeAttribute("aria-live");
    counter.textContent = !near ? "" : over ? `${number(length)} / ${number(limit)}: ${number(length - limit)} too many` : `${number(length)} / ${number(limit)}`;
  }
  const feedback = feedbackFor(input);
  if (over) {
    const message = overLimitMessage(labelText(input), length, limit);
    input.setCustomValidity(message);
    input.dataset.overLimit = "true";
    input.classList.add("is-invalid");
    input.setAttribute("aria-invalid", "true");
    if (feedback) {
      feedback.dataset.clientMessage ??= feedback.textContent;
      feedback.textContent = message;
    }
  } else if (input.dataset.overLimit) {
    delete input.dataset.overLimit;
    input.setCustomValidity("");
    input.classList.remove("is-invalid");
    input.removeAttribute("aria-invalid");
    if (feedback && feedback.dataset.clientMessage !== undefined) feedback.textContent = feedback.dataset.clientMessage;
  }
}

/** Take over the `maxlength` of the form's text fields (once per field): counters and over-limit marks. */
export function watchLimits(form) {
  if (form.dataset.limitsWatched) return;
  form.dataset.limitsWatched = "true";
  // A reset puts the values back after its event: count once they are.
  form.addEventListener("reset", () => setTimeout(() => refreshLimits(form)));
  for (const input of form.querySelectorAll("input[maxlength], textarea[maxlength]")) {
    const limit = Number(input.getAttribute("maxlength"));
    input.removeAttribute("maxlength");
    if (!Number.isInteger(limit) || limit <= 0 || !input.id) continue;
    input.dataset.limit = String(limit);
    const counter = el("div", { id: `${input.id}-counter`, class: "form-text limit-counter", hidden: true });
    input.after(counter);
    const described = (input.getAttribute("aria-describedby") ?? "").split(/\s+/).filter(Boolean);
    input.setAttribute("aria-describedby", [...described, counter.id].join(" "));
    input.addEventListener("input", () => updateLimit(input));
    updateLimit(input);
  }
}

/** Count again (after the page set values itself). */
export function refreshLimits(form) {
  for (const input of form.querySelectorAll("[data-limit]")) updateLimit(input);
}

for (const form of document.forms) watchLimits(form);

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
  refreshLimits(form);
}
