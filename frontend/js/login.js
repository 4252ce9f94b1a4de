// The sign-in page: the OAuth2 password form to POST /api/auth/token, then back to the page
// the person came from (`next`, checked to be one of our pages), else the incident list.

import { EXPIRED_KEY, safeNext, signIn } from "./api.js";
import { alertBox, session } from "./dom.js";
import { clearErrorsOnEdit, clearServerErrors, setBusy as setFormBusy, showApiError, validate } from "./forms.js";

const form = document.querySelector("#login-form");
const email = document.querySelector("#email");
const password = document.querySelector("#password");
const button = form.querySelector("[type=submit]");
const buttonLabel = button.querySelector(".button-label");
const messages = document.querySelector("#login-messages");

const next = safeNext(new URLSearchParams(location.search).get("next"));

function setBusy(busy) {
  setFormBusy(form, busy);
  buttonLabel.textContent = busy ? "Signing in…" : "Sign in";
}

/** The message for a failed sign-in: the API's own words, with the wait from Retry-After on a 429. */
function failureMessage(error) {
  if (error.status === 429) {
    const seconds = error.retryAfter ?? Number(/(\d+) seconds?/.exec(error.message)?.[1] ?? NaN);
    return Number.isFinite(seconds)
      ? `Too many failed sign-ins. Try again in ${seconds} ${seconds === 1 ? "second" : "seconds"}.`
      : error.message;
  }
  return error.message;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  messages.replaceChildren();
  clearServerErrors(form);
  if (!validate(form)) return;

  setBusy(true);
  try {
    await signIn(email.value.trim(), password.value);
  } catch (error) {
    setBusy(false);
    if (error.status === 422 || error.isNetworkError) {
      // Fields in plain words on the fields; the API out of reach: what to do, and a button to try again.
      showApiError(form, messages, error, "Could not sign in", { fields: ["username", "password"] });
      return;
    }
    messages.replaceChildren(alertBox("danger", failureMessage(error), { heading: "Could not sign in" }));
    if (error.status === 401) {
      password.select();
      password.focus();
    }
    return;
  }
  location.replace(next); // replace: Back does not return to the sign-in form
});
clearErrorsOnEdit(form);

if (session.take(EXPIRED_KEY)) {
  messages.replaceChildren(alertBox("info", "Your session has expired. Sign in again to continue where you were."));
}
button.disabled = false;
// The page's `autofocus` already put the cursor in Email; a person who started typing elsewhere before this
// script ran keeps their place.
if (document.activeElement === document.body || document.activeElement === null) email.focus();
