// The signed-in part every page shares: send a signed-out person to sign in, ask who they are
// (once per page load) and show the user menu in the navbar.

import { getMe, isSignedIn, redirectToLogin, signOut } from "./api.js";
import { el, icon } from "./dom.js";
import { ROLE_INFO, can, initials, roleLabel } from "./roles.js";
import "./shortcuts.js"; // "?" shows the page's keyboard shortcuts on every signed-in page

export function roleBadge(role) {
  const info = ROLE_INFO[role];
  return el("span", { class: `badge ${info ? info.badge : "text-bg-light border"} role-badge` }, roleLabel(role));
}

/** The navbar's user menu (a Bootstrap dropdown): name, email and role; Sign out. `user` null: unknown. */
export function renderUserMenu(container, user) {
  if (!container) return;
  const name = user ? user.display_name : "Account";
  const toggle = el(
    "button",
    {
      type: "button",
      id: "user-menu-button",
      class: "btn btn-dark border-0 dropdown-toggle d-flex align-items-center gap-2 user-menu-toggle",
      "data-bs-toggle": "dropdown",
      "aria-expanded": "false",
    },
    el("span", { class: "avatar", "aria-hidden": "true" }, user ? initials(user.display_name) : icon("person-fill")),
    // The name is the button's text, so that its accessible name ("Account: Ada Admin") holds what is seen; on a
    // phone only the initials show and the name is read out all the same (see styles.css).
    el("span", { class: "visually-hidden" }, "Account: "),
    el("span", { class: "user-menu-name text-truncate" }, name),
  );
  const header = user
    ? el(
        "div",
        { class: "px-3 pt-2 pb-1 user-menu-header" },
        el("div", { class: "small text-body-secondary" }, "Signed in as"),
        el("div", { class: "fw-semibold text-break", dataset: { user: "name" } }, user.display_name),
        el("div", { class: "small text-body-secondary text-break mb-2", dataset: { user: "email" } }, user.email),
        el("div", { dataset: { user: "role" } }, roleBadge(user.role)),
      )
    : el("div", { class: "px-3 py-2 small text-body-secondary" }, "Could not load your account.");
  const menu = el(
    "ul",
    { class: "dropdown-menu dropdown-menu-end shadow user-menu", "aria-labelledby": "user-menu-button" },
    el("li", {}, header),
    el("li", {}, el("hr", { class: "dropdown-divider" })),
    el(
      "li",
      {},
      el(
        "button",
        { type: "button", class: "dropdown-item d-flex align-items-center gap-2", onclick: signOut },
        icon("box-arrow-right"),
        "Sign out",
      ),
    ),
  );
  container.replaceChildren(el("div", { class: "dropdown" }, toggle, menu));
}

/** The navbar's links that need a role (`data-needs="manageUsers"`) show once the user is known to have it. */
export function showAllowedLinks(user, root = document) {
  for (const item of root.querySelectorAll("[data-needs]")) item.hidden = !can(user, item.dataset.needs);
}

const NEVER = new Promise(() => {});

/**
 * Every signed-in page starts here. Signed out: off to the sign-in page (the promise never settles).
 * Else resolves to the user ({id, email, display_name, role}) and fills the navbar's user menu;
 * rejects with the ApiError when the API cannot say who this is (the menu then offers Sign out only).
 */
export function startSignedInPage() {
  if (!isSignedIn()) {
    redirectToLogin();
    return NEVER;
  }
  const container = document.querySelector("#user-menu");
  const user = getMe();
  user.then(
    (me) => {
      renderUserMenu(container, me);
      showAllowedLinks(me);
    },
    () => renderUserMenu(container, null),
  );
  return user;
}
