// Runs before the first paint (a classic script in <head>, not deferred), so a dark page never flashes white.
// The theme is Bootstrap's color mode (`data-bs-theme` on <html>): the person's choice when they made one
// (remembered in localStorage), else the system's `prefers-color-scheme`, followed live.
// The navbar's `#theme-toggle` button switches between light and dark and remembers the choice.
(function theme() {
  const KEY = "incident-tracker:theme";
  const media = window.matchMedia("(prefers-color-scheme: dark)");

  function stored() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch {
      return null; // storage refused (private mode): follow the system
    }
  }

  function current() {
    return stored() ?? (media.matches ? "dark" : "light");
  }

  function label(button, mode) {
    const next = mode === "dark" ? "light" : "dark";
    button.setAttribute("aria-label", `Switch to ${next} theme`);
    button.title = `Switch to ${next} theme`;
    button.setAttribute("aria-pressed", String(mode === "dark"));
    const glyph = button.querySelector("i");
    if (glyph) glyph.className = `bi bi-${mode === "dark" ? "moon-stars-fill" : "sun-fill"}`;
  }

  function apply(mode) {
    document.documentElement.setAttribute("data-bs-theme", mode);
    const button = document.getElementById("theme-toggle");
    if (button) label(button, mode);
    document.dispatchEvent(new CustomEvent("themechange", { detail: { theme: mode } }));
  }

  apply(current());
  media.addEventListener("change", () => {
    if (!stored()) apply(current());
  });
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) apply(current());
  });
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    label(button, current());
    button.addEventListener("click", () => {
      const next = current() === "dark" ? "light" : "dark";
      try {
        localStorage.setItem(KEY, next);
      } catch {
        // not remembered, but still switched for this page
      }
      apply(next);
    });
  });
})();
