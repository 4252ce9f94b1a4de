// Keyboard shortcuts, one registry for every page: a page adds its keys with `addShortcut`, and `?` shows them
// all in a dialog (every signed-in page loads this module through session.js). A key never fires while the person
// is typing (in an input, a textarea, a select or an editable element), with Ctrl, Alt or Meta held, or while a
// dialog other than the shortcuts' own is open; Enter and Space never take over a focused link or button.
// Closing the dialog (Escape, its button, `?` again) puts the focus back where it was.

import { el } from "./dom.js";

const shortcuts = new Map(); // key -> {key, description, handler}
let dialog = null;
let returnFocus = null; // what had the focus when the dialog opened
let opening = false; // between show() and the end of its fade-in

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  return Boolean(target.closest("input, textarea, select, [contenteditable='true']"));
}

// Enter and Space belong to a focused control: they follow the link or press the button.
function activates(key, target) {
  if (key !== "Enter" && key !== " ") return false;
  return target instanceof Element && Boolean(target.closest("a[href], button, summary, [role='button'], [role='link'], [role='menuitem'], [role='tab']"));
}

/** addShortcut("n", "New incident", () => ...): `key` is KeyboardEvent.key ("/", "j", "Enter", "?"). */
export function addShortcut(key, description, handler) {
  shortcuts.set(key, { key, description, handler });
}

export function removeShortcut(key) {
  shortcuts.delete(key);
}

/** The shortcuts this page has, in the order they were added ("?" included). */
export function listShortcuts() {
  return [...shortcuts.values()].map(({ key, description }) => ({ key, description }));
}

const KEY_NAMES = { " ": "Space", Escape: "Esc", ArrowUp: "↑", ArrowDown: "↓", ArrowLeft: "←", ArrowRight: "→" };

function keyLabel(key) {
  return KEY_NAMES[key] ?? key;
}

function buildDialog() {
  const title = el("h2", { class: "modal-title h5", id: "shortcuts-title" }, "Keyboard shortcuts");
  const list = el("dl", { class: "shortcut-list mb-0", id: "shortcuts-list" });
  const close = el("button", { type: "button", class: "btn-close", "data-bs-dismiss": "modal", "aria-label": "Close" });
  const modal = el(
    "div",
    { class: "modal fade", id: "shortcuts-dialog", tabindex: "-1", "aria-labelledby": "shortcuts-title", "aria-hidden": "true" },
    el(
      "div",
      { class: "modal-dialog modal-dialog-centered" },
      el(
        "div",
        { class: "modal-content" },
        el("div", { class: "modal-header" }, title, close),
        el("div", { class: "modal-body" }, list, el("p", { class: "small text-body-secondary mt-3 mb-0" }, "Shortcuts do nothing while you type in a field.")),
      ),
    ),
  );
  document.body.append(modal);
  modal.addEventListener("shown.bs.modal", () => {
    opening = false;
  });
  modal.addEventListener("hidden.bs.modal", () => {
    const target = returnFocus;
    returnFocus = null;
    if (target instanceof HTMLElement && target.isConnected && target !== document.body) target.focus();
  });
  return modal;
}

/** Show the dialog listing this page's shortcuts; `?` while it is open closes it. */
export function showShortcuts() {
  dialog ??= buildDialog();
  const modal = window.bootstrap.Modal.getOrCreateInstance(dialog);
  if (dialog.classList.contains("show")) {
    // Still fading in, Bootstrap would ignore the hide: close it as soon as it is shown.
    if (opening) dialog.addEventListener("shown.bs.modal", () => modal.hide(), { once: true });
    else modal.hide();
    return;
  }
  opening = true;
  returnFocus = document.activeElement;
  const list = dialog.querySelector("#shortcuts-list");
  list.replaceChildren(
    ...listShortcuts().flatMap(({ key, description }) => [
      el("dt", {}, el("kbd", {}, keyLabel(key))),
      el("dd", {}, description),
    ]),
  );
  modal.show();
}

addShortcut("?", "Show these shortcuts", showShortcuts);

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
  if (typing(event.target) || activates(event.key, event.target)) return;
  const open = document.querySelector(".modal.show");
  if (open && open !== dialog) return;
  const shortcut = shortcuts.get(event.key);
  if (!shortcut) return;
  if (open && shortcut.key !== "?") return;
  event.preventDefault();
  shortcut.handler(event);
});
