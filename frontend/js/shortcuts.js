// Keyboard shortcuts, one registry for every page: a page adds its keys with `addShortcut`, and `?` shows them
// all in a dialog. A key never fires while the person is typing (in an input, a textarea, a select or an
// editable element), with Ctrl, Alt or Meta held, or while a dialog other than the shortcuts' own is open.

import { el } from "./dom.js";

const shortcuts = new Map(); // key -> {key, description, handler}
let dialog = null;

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  return Boolean(target.closest("input, textarea, select, [contenteditable='true']"));
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

function keyLabel(key) {
  return key === "Enter" ? "Enter" : key;
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
  return modal;
}

/** Show the dialog listing this page's shortcuts. */
export function showShortcuts() {
  dialog ??= buildDialog();
  const list = dialog.querySelector("#shortcuts-list");
  list.replaceChildren(
    ...listShortcuts().flatMap(({ key, description }) => [
      el("dt", {}, el("kbd", {}, keyLabel(key))),
      el("dd", {}, description),
    ]),
  );
  window.bootstrap.Modal.getOrCreateInstance(dialog).show();
}

addShortcut("?", "Show these shortcuts", showShortcuts);

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
  if (typing(event.target)) return;
  const open = document.querySelector(".modal.show");
  if (open && open !== dialog) return;
  const shortcut = shortcuts.get(event.key);
  if (!shortcut) return;
  if (open && shortcut.key !== "?") return;
  event.preventDefault();
  shortcut.handler(event);
});
