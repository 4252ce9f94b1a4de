// users.html (admins): the accounts, a page at a time (`?page=N`); create one, change a role, deactivate (after a
// confirmation) and reactivate, set a new password. The API's refusals (the last active admin, an email taken)
// show next to the action that met them. Everything from the API is written as text.

import { createUser, listUsers, signOut, updateUser } from "./api.js";
import {
  checkField,
  clearErrorsOnInput,
  clearFieldErrors,
  plainFieldErrors,
  setFieldError,
  showFieldErrors,
} from "./admin-forms.js";
import { alertBox, el, icon, refreshRelativeTimes, replaceChildren, timeElement } from "./dom.js";
import { pageFrom, pageSummary, renderPager } from "./pager.js";
import { ROLES, can, roleLabel } from "./roles.js";
import { roleBadge, startSignedInPage } from "./session.js";
import { addShortcut } from "./shortcuts.js";

const LIMIT = 20;
const $ = (selector) => document.querySelector(selector);

const view = {
  heading: $("#page-heading"),
  loading: $("#loading"),
  messages: $("#page-messages"),
  notAllowed: $("#not-allowed"),
  newUser: $("#new-user"),
  createCard: $("#create-card"),
  createHeading: $("#create-heading"),
  createForm: $("#create-form"),
  createMessages: $("#create-messages"),
  createCancel: $("#create-cancel"),
  card: $("#users-card"),
  table: $("#users"),
  rows: $("#rows"),
  listMessage: $("#list-message"),
  summary: $("#summary"),
  pagination: $("#pagination"),
  deactivateModal: $("#deactivate-modal"),
  deactivateTitle: $("#deactivate-title"),
  deactivateSelf: $("#deactivate-self"),
  deactivateConfirm: $("#deactivate-confirm"),
  passwordModal: $("#password-modal"),
  passwordTitle: $("#password-title"),
  passwordSelf: $("#password-self"),
  passwordForm: $("#password-form"),
  passwordMessages: $("#password-messages"),
};

let me = null;
let users = []; // the rows shown, as the API last answered them
let loadController = null;

// ---------------------------------------------------------------------------
// The address: ?page=N

function state() {
  return { page: pageFrom(new URLSearchParams(location.search)) };
}

function pageUrl(page) {
  return page > 1 ? `users.html?page=${page}` : "users.html";
}

function go(page, { replace = false } = {}) {
  const url = pageUrl(page);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  return load();
}

// ---------------------------------------------------------------------------
// Rows

function statusBadge(user) {
  return user.is_active
    ? el("span", { class: "badge rounded-pill bg-success-subtle text-success-emphasis border border-success-subtle account-status" }, icon("check-circle-fill", "me-1"), "Active")
    : el("span", { class: "badge rounded-pill bg-secondary-subtle text-secondary-emphasis border border-secondary-subtle account-status" }, icon("slash-circle", "me-1"), "Inactive");
}

function roleControl(user) {
  const id = `role-${user.id}`;
  const select = el(
    "select",
    { id, class: "form-select form-select-sm w-auto", dataset: { action: "role" }, "aria-label": `Role of ${user.display_name}` },
    ROLES.map((role) => el("option", { value: role, selected: role === user.role }, roleLabel(role))),
  );
  const save = el("button", { type: "button", class: "btn btn-sm btn-outline-primary", dataset: { action: "save-role" }, disabled: true }, "Change role");
  select.addEventListener("change", () => {
    save.disabled = select.value === user.role;
  });
  save.addEventListener("click", () => changeRole(user, select.value));
  return el("div", { class: "d-flex flex-wrap align-items-center gap-1" }, select, save);
}

function row(user) {
  const self = me && user.id === me.id;
  const activeButton = user.is_active
    ? el("button", { type: "button", class: "btn btn-sm btn-outline-danger", dataset: { action: "deactivate" }, onclick: () => askDeactivate(user) }, "Deactivate")
    : el("button", { type: "button", class: "btn btn-sm btn-outline-success", dataset: { action: "reactivate" }, onclick: () => reactivate(user) }, "Reactivate");
  const passwordButton = el(
    "button",
    { type: "button", class: "btn btn-sm btn-outline-secondary", dataset: { action: "password" }, onclick: () => askPassword(user) },
    "Reset password",
  );
  return el(
    "tr",
    { dataset: { userId: String(user.id) }, class: user.is_active ? "" : "inactive-user" },
    el(
      "th",
      { scope: "row", class: "user-name", tabindex: "-1", "data-label": "Name" },
      el("span", { class: "text-break" }, user.display_name),
      self ? el("span", { class: "badge bg-secondary-subtle text-secondary-emphasis border border-secondary-subtle ms-2 you-badge" }, "you") : null,
    ),
    el("td", { class: "user-email text-break", "data-label": "Email" }, user.email),
    el("td", { class: "user-role", "data-label": "Role" }, roleBadge(user.role)),
    el("td", { class: "user-status", "data-label": "Status" }, statusBadge(user)),
    el("td", { class: "user-created", "data-label": "Created" }, timeElement(user.created_at)),
    el(
      "td",
      { class: "user-actions", "data-label": "Actions" },
      el("div", { class: "d-flex flex-wrap align-items-center gap-2" }, roleControl(user), activeButton, passwordButton),
      el("div", { class: "row-message", "aria-live": "polite" }),
    ),
  );
}

function rowOf(userId) {
  return view.rows.querySelector(`tr[data-user-id="${CSS.escape(String(userId))}"]`);
}

/** Redraw one account's row in place (the API's answer), keeping its place in the table. */
function replaceRow(user) {
  users = users.map((item) => (item.id === user.id ? user : item));
  const old = rowOf(user.id);
  const fresh = row(user);
  if (old) old.replaceWith(fresh);
  return fresh;
}

/** A message under a row's actions: success (polite), or a refusal (an alert), which takes the focus. */
function rowMessage(tr, kind, text, { focus = kind === "danger" } = {}) {
  const slot = tr.querySelector(".row-message");
  const box = el(
    "div",
    { class: `small mt-2 d-flex align-items-start gap-1 text-${kind}-emphasis`, role: kind === "danger" ? "alert" : null, tabindex: "-1" },
    icon(kind === "danger" ? "exclamation-triangle-fill" : "check-circle-fill", "flex-shrink-0 mt-1"),
    el("span", {}, text),
  );
  replaceChildren(slot, box);
  if (focus) box.focus();
  return box;
}

function busy(tr, on) {
  for (const control of tr.querySelectorAll("button, select")) {
    if (on) {
      control.dataset.wasDisabled = String(control.disabled);
      control.disabled = true;
    } else {
      control.disabled = control.dataset.wasDisabled === "true";
      delete control.dataset.wasDisabled;
    }
  }
  tr.setAttribute("aria-busy", String(on));
}

// ---------------------------------------------------------------------------
// Loading a page

function showListError(error) {
  view.rows.replaceChildren();
  view.pagination.replaceChildren();
  view.summary.textContent = "";
  const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: () => load() }, icon("arrow-clockwise", "me-1"), "Retry");
  replaceChildren(view.listMessage, el("div", { class: "p-3" }, alertBox("danger", error.message, { heading: "Could not load the users", action: retry })));
}

async function load() {
  loadController?.abort();
  const controller = new AbortController();
  loadController = controller;
  const { page } = state();
  view.table.setAttribute("aria-busy", "true");
  try {
    const data = await listUsers({ page, limit: LIMIT }, { signal: controller.signal });
    if (controller.signal.aborted) return null;
    users = data.items ?? [];
    view.rows.replaceChildren(...users.map(row));
    view.listMessage.replaceChildren();
    if (users.length === 0) {
      const back = data.total > 0 ? el("a", { href: pageUrl(1), class: "alert-link", dataset: { page: "1" } }, "Go to the first page") : null;
      replaceChildren(view.listMessage, el("div", { class: "p-3 text-body-secondary" }, data.total > 0 ? "This page is past the last one. " : "No accounts yet. ", back));
    }
    view.table.hidden = users.length === 0;
    view.summary.textContent = pageSummary(data, users.length, "user");
    renderPager(view.pagination, data, pageUrl);
    return data;
  } catch (error) {
    if (error.name === "AbortError") return null;
    showListError(error);
    return null;
  } finally {
    if (loadController === controller) view.table.removeAttribute("aria-busy");
  }
}

// ---------------------------------------------------------------------------
// Actions on one account

async function patch(user, changes, { success, focus }) {
  const tr = rowOf(user.id);
  busy(tr, true);
  try {
    const updated = await updateUser(user.id, changes);
    const fresh = replaceRow(updated);
    rowMessage(fresh, "success", success(updated));
    (fresh.querySelector(focus) ?? fresh.querySelector(".user-name")).focus();
    return updated;
  } catch (error) {
    busy(tr, false);
    const errors = plainFieldErrors(error.problem);
    rowMessage(tr, "danger", Object.values(errors)[0] ?? error.message);
    return null;
  }
}

function changeRole(user, role) {
  return patch(user, { role }, {
    success: (updated) => `${updated.display_name} is now ${roleLabel(updated.role).toLowerCase() === "admin" ? "an admin" : `a ${roleLabel(updated.role).toLowerCase()}`}.`,
    focus: '[data-action="role"]',
  }).then((updated) => {
    if (updated && me && updated.id === me.id && updated.role !== "admin") {
      location.reload(); // no longer an admin: the page says so
    }
  });
}

function reactivate(user) {
  return patch(user, { is_active: true }, {
    success: (updated) => `${updated.display_name} can sign in again.`,
    focus: '[data-action="deactivate"]',
  });
}

let pendingDeactivation = null;

function modal(element) {
  return window.bootstrap.Modal.getOrCreateInstance(element);
}

/** Hide a dialog, then run `after` (to move the focus once Bootstrap has given it back). */
function closeDialog(element, after) {
  element.addEventListener("hidden.bs.modal", () => after(), { once: true });
  modal(element).hide();
}

function askDeactivate(user) {
  pendingDeactivation = user;
  view.deactivateTitle.textContent = `Deactivate ${user.display_name}?`;
  view.deactivateSelf.hidden = !(me && user.id === me.id);
  modal(view.deactivateModal).show();
}

view.deactivateModal.addEventListener("shown.bs.modal", () => view.deactivateConfirm.focus());
view.deactivateModal.addEventListener("hidden.bs.modal", () => {
  if (pendingDeactivation) {
    // Cancelled: back to the button that asked.
    rowOf(pendingDeactivation.id)?.querySelector('[data-action="deactivate"]')?.focus();
    pendingDeactivation = null;
  }
});

view.deactivateConfirm.addEventListener("click", () => {
  const user = pendingDeactivation;
  pendingDeactivation = null;
  if (!user) return;
  closeDialog(view.deactivateModal, async () => {
    const updated = await patch(user, { is_active: false }, {
      success: (done) => `${done.display_name} is deactivated and signed out everywhere.`,
      focus: '[data-action="reactivate"]',
    });
    if (updated && me && updated.id === me.id) signOut();
  });
});

let passwordUser = null;

function askPassword(user) {
  passwordUser = user;
  view.passwordTitle.textContent = `New password for ${user.display_name}`;
  view.passwordSelf.hidden = !(me && user.id === me.id);
  view.passwordForm.reset();
  clearFieldErrors(view.passwordForm);
  view.passwordMessages.replaceChildren();
  modal(view.passwordModal).show();
}

view.passwordModal.addEventListener("shown.bs.modal", () => view.passwordForm.elements.namedItem("password").focus());
view.passwordModal.addEventListener("hidden.bs.modal", () => {
  if (passwordUser) {
    rowOf(passwordUser.id)?.querySelector('[data-action="password"]')?.focus();
    passwordUser = null;
  }
});
clearErrorsOnInput(view.passwordForm);

view.passwordForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = passwordUser;
  if (!user) return;
  const form = view.passwordForm;
  const password = form.elements.namedItem("password");
  const again = form.elements.namedItem("password_again");
  clearFieldErrors(form);
  view.passwordMessages.replaceChildren();
  const errors = {};
  const problem = checkField("password", password.value);
  if (problem) errors.password = problem;
  if (again.value === "") errors.password_again = "Type the new password again.";
  else if (!problem && again.value !== password.value) errors.password_again = "The two passwords differ: type the same one twice.";
  if (Object.keys(errors).length) {
    showFieldErrors(form, errors);
    return;
  }
  const submit = form.querySelector('[type="submit"]');
  submit.disabled = true;
  try {
    const updated = await updateUser(user.id, { password: password.value });
    passwordUser = null;
    form.reset();
    closeDialog(view.passwordModal, () => {
      if (me && updated.id === me.id) {
        signOut();
        return;
      }
      const fresh = replaceRow(updated);
      rowMessage(fresh, "success", `New password set. ${updated.display_name} is signed out everywhere and signs in with it.`);
      fresh.querySelector('[data-action="password"]').focus();
    });
  } catch (error) {
    const unmatched = showFieldErrors(form, plainFieldErrors(error.problem));
    if (!form.querySelector(".is-invalid")) {
      view.passwordMessages.replaceChildren(alertBox("danger", unmatched[0] ?? error.message, { heading: "The password was not changed" }));
    }
  } finally {
    submit.disabled = false;
  }
});

// ---------------------------------------------------------------------------
// Creating an account

const CREATE_FIELDS = ["email", "display_name", "role", "password"];

function openCreate() {
  view.createCard.hidden = false;
  view.newUser.setAttribute("aria-expanded", "true");
  view.createForm.elements.namedItem("email").focus();
}

function closeCreate() {
  view.createForm.reset();
  clearFieldErrors(view.createForm);
  view.createMessages.replaceChildren();
  view.createCard.hidden = true;
  view.newUser.setAttribute("aria-expanded", "false");
  view.newUser.focus();
}

view.newUser.addEventListener("click", () => (view.createCard.hidden ? openCreate() : closeCreate()));
view.createCancel.addEventListener("click", closeCreate);
clearErrorsOnInput(view.createForm);

view.createForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = view.createForm;
  clearFieldErrors(form);
  view.createMessages.replaceChildren();
  const values = Object.fromEntries(CREATE_FIELDS.map((name) => [name, form.elements.namedItem(name).value]));
  const errors = {};
  for (const name of CREATE_FIELDS) {
    const problem = checkField(name, values[name]);
    if (problem) errors[name] = problem;
  }
  if (Object.keys(errors).length) {
    showFieldErrors(form, errors);
    return;
  }
  const submit = form.querySelector('[type="submit"]');
  submit.disabled = true;
  try {
    const user = await createUser({
      email: values.email.trim(),
      display_name: values.display_name.trim(),
      role: values.role,
      password: values.password,
    });
    form.reset();
    view.createCard.hidden = true;
    view.newUser.setAttribute("aria-expanded", "false");
    // Accounts are listed oldest first: the new one is on the last page.
    const first = await listUsers({ page: 1, limit: LIMIT });
    await go(Math.max(1, Math.ceil(first.total / LIMIT)));
    const tr = rowOf(user.id);
    if (tr) {
      rowMessage(tr, "success", `Account created for ${user.display_name}.`);
      tr.querySelector(".user-name").focus();
    } else {
      replaceChildren(view.messages, alertBox("success", `Account created for ${user.display_name}.`, { dismissible: true }));
    }
  } catch (error) {
    if (error.status === 409) {
      setFieldError(form.elements.namedItem("email"), "An account with this email already exists.");
      form.elements.namedItem("email").focus();
    } else {
      const unmatched = showFieldErrors(form, plainFieldErrors(error.problem));
      if (!form.querySelector(".is-invalid") || unmatched.length) {
        view.createMessages.replaceChildren(alertBox("danger", unmatched[0] ?? error.message, { heading: "The account was not created" }));
      }
    }
  } finally {
    submit.disabled = false;
  }
});

// ---------------------------------------------------------------------------
// Start

view.pagination.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-page]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(Number(link.dataset.page)).then(() => view.heading.focus());
});
view.listMessage.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-page]");
  if (!link) return;
  event.preventDefault();
  go(Number(link.dataset.page)).then(() => view.heading.focus());
});
window.addEventListener("popstate", () => load());

try {
  me = await startSignedInPage();
} catch (error) {
  view.loading.hidden = true;
  const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", onclick: () => location.reload() }, icon("arrow-clockwise", "me-1"), "Retry");
  replaceChildren(view.messages, alertBox("danger", error.message, { heading: "Could not load your account", action: retry }));
}

if (me && !can(me, "manageUsers")) {
  document.title = "Not allowed · Incident Tracker";
  view.loading.hidden = true;
  view.notAllowed.querySelector("#not-allowed-reason").textContent =
    `Only admins manage accounts; your role is ${roleLabel(me.role).toLowerCase()}. Ask an admin if someone needs an account or a different role.`;
  view.notAllowed.hidden = false;
  view.notAllowed.focus();
} else if (me) {
  addShortcut("n", "New user", () => (view.createCard.hidden ? openCreate() : view.createForm.elements.namedItem("email").focus()));
  await load();
  view.loading.hidden = true;
  view.newUser.hidden = false;
  view.card.hidden = false;
  setInterval(() => refreshRelativeTimes(view.rows), 60_000);
}
