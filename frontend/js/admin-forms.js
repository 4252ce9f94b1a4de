// The account forms of users.html (create, reset a password): what is wrong with a field, in plain words, whether
// the page found it or the API did, shown on the field itself.

const LIMITS = { email: 254, display_name: 100, password: 128 };
export const PASSWORD_MIN = 8;

/** Length as the API counts it: code points, so an emoji is one character. */
export function textLength(value) {
  return [...String(value ?? "")].length;
}

// What the API refuses: in an email, control (Cc) and format (Cf) characters (zero-width spaces, joiners, bidi
// controls); in a name, control characters other than tab and line feed (an emoji's joiner is fine there).
const REFUSED = {
  email: /[\p{Cc}\p{Cf}]/u,
  display_name: /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u,
};

/** What is wrong with one value of the account forms, in plain words; "" when nothing is. */
export function checkField(field, value, { required = true } = {}) {
  const text = String(value ?? "");
  const trimmed = text.trim();
  if (field === "role") return ["viewer", "responder", "admin"].includes(text) ? "" : "Choose a role.";
  if (required && (field === "password" ? text === "" : trimmed === "")) {
    return {
      email: "Enter the person's email address.",
      display_name: "Enter the person's name.",
      password: "Enter a password.",
    }[field] ?? "Fill in this field.";
  }
  if (REFUSED[field]?.test(text)) {
    return "Remove the invisible or control characters (they may have come with pasted text).";
  }
  const limit = LIMITS[field];
  if (limit && textLength(field === "password" ? text : trimmed) > limit) {
    return `Use at most ${limit} characters (this has ${textLength(field === "password" ? text : trimmed)}).`;
  }
  if (field === "password" && textLength(text) < PASSWORD_MIN) {
    return `Use at least ${PASSWORD_MIN} characters (this has ${textLength(text)}).`;
  }
  if (field === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/u.test(trimmed)) {
    return "Enter an email address like sam@example.com.";
  }
  return "";
}

/**
 * One of the API's field errors ({loc, msg, type}) in plain words: never "body.email" or "String should have at
 * most 100 characters".
 */
export function plainFieldError(field, error) {
  const type = String(error?.type ?? "");
  const message = String(error?.msg ?? "");
  const number = message.match(/\d+/)?.[0];
  switch (type) {
    case "missing":
      return checkField(field, "");
    case "string_too_short":
      return field === "password" ? `Use at least ${number ?? PASSWORD_MIN} characters.` : checkField(field, "");
    case "string_too_long":
      return `Use at most ${number ?? LIMITS[field]} characters.`;
    case "string_blank":
      return checkField(field, "");
    case "string_control_character":
    case "string_invisible_character":
    case "string_pattern_mismatch":
      return "Remove the invisible or control characters (they may have come with pasted text).";
    case "enum":
      return "Choose one of the roles: Viewer, Responder or Admin.";
    default:
      break;
  }
  if (field === "email") {
    // email-validator's own explanation is in words already ("The part after the @-sign is not valid. ...").
    const reason = message.replace(/^Value error,\s*/i, "").replace(/^value is not a valid email address:\s*/i, "");
    return reason && reason !== message ? `This email address cannot be used. ${reason}` : "Enter an email address like sam@example.com.";
  }
  return message.replace(/^Value error,\s*/i, "") || "This value is not accepted.";
}

/** {field: plain message} from an ApiError's problem body; the field is the last part of each error's `loc`. */
export function plainFieldErrors(problem) {
  const fields = {};
  for (const error of Array.isArray(problem?.errors) ? problem.errors : []) {
    const loc = Array.isArray(error.loc) ? error.loc : [];
    const field = loc.length ? String(loc[loc.length - 1]) : "";
    fields[field] ??= plainFieldError(field, error);
  }
  return fields;
}

function feedback(input) {
  return document.getElementById(`${input.id}-feedback`);
}

/** Mark `input` invalid with `message` (or clear it with ""). */
export function setFieldError(input, message) {
  input.classList.toggle("is-invalid", Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  const box = feedback(input);
  if (box) box.textContent = message;
}

/** Clear every mark of the form; a field's mark also goes as soon as it is edited. */
export function clearFieldErrors(form) {
  for (const input of form.querySelectorAll(".is-invalid")) setFieldError(input, "");
}

export function clearErrorsOnInput(form) {
  form.addEventListener("input", (event) => {
    if (event.target instanceof HTMLElement && event.target.classList.contains("is-invalid")) setFieldError(event.target, "");
  });
}

/**
 * Show {field: message} on the form's inputs (by name); returns the messages that match no input. Focuses the
 * first invalid input.
 */
export function showFieldErrors(form, errors) {
  const unmatched = [];
  for (const [field, message] of Object.entries(errors)) {
    const input = field ? form.elements.namedItem(field) : null;
    if (input instanceof HTMLElement) setFieldError(input, message);
    else unmatched.push(message);
  }
  form.querySelector(".is-invalid")?.focus();
  return unmatched;
}
