// Runs before the first paint (a classic script, first in <head>, neither deferred nor a module), so a dark page
// never flashes white. The theme is Bootstrap's color mode (`data-bs-theme` on <html>): the person's choice when
// they made one (light or dark, remembered in localStorage for every page and tab), else the system's
// `prefers-color-scheme`, followed live while the page is open.
// The navbar's `#theme-toggle` button opens a menu of three: Light, Dark, System (forget the choice).
(function theme() {
  const KEY = "incident-tracker:theme";
  const CHOICES = [
    { value: "light", label: "Light", icon: "sun-fill" },
    { value: "dark", label: "Dark", icon: "moon-stars-fill" },
    { value: "system", label: "System", icon: "circle-half" },
  ];
  const media = window.matchMedia("(prefers-color-scheme: dark)");

  /** "light" or "dark" when the person chose one, else "system". */
  function choice() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : "system";
    } catch {
      return "system"; // storage refused (private mode): follow the system
    }
  }

  function remember(value) {
    try {
      if (value === "system") localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, value);
    } catch {
      // not remembered, but still switched for this page
    }
  }

  function systemMode() {
    return media.matches ? "dark" : "light";
  }

  /** The mode shown: the choice, or the system's. */
  function mode(chosen = choice()) {
    return chosen === "system" ? systemMode() : chosen;
  }

  function describe(chosen) {
    const shown = mode(chosen);
    const name = shown === "dark" ? "dark" : "light";
    return chosen === "system" ? `Theme: system (${name} now)` : `Theme: ${name}`;
  }

  function paintToggle(chosen) {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const text = describe(chosen);
    button.setAttribute("aria-label", text);
    button.title = text;
    const glyph = button.querySelector("i");
    const info = CHOICES.find((item) => item.value === chosen);
    if (glyph) glyph.className = `bi bi-${info.icon}`;
    for (const item of document.querySelectorAll("#theme-menu [data-theme-value]")) {
      const on = item.dataset.themeValue === chosen;
      item.classList.toggle("active", on);
      item.setAttribute("aria-pressed", String(on));
      item.querySelector(".theme-check")?.classList.toggle("invisible", !on);
    }
  }

  function apply(chosen = choice()) {
    const shown = mode(chosen);
    const root = document.documentElement;
    const changed = root.getAttribute("data-bs-theme") !== shown;
    root.setAttribute("data-bs-theme", shown);
    paintToggle(chosen);
    if (changed) document.dispatchEvent(new CustomEvent("themechange", { detail: { theme: shown, choice: chosen } }));
  }

  function icon(name, extra = "") {
    const glyph = document.createElement("i");
    glyph.className = `bi bi-${name} ${extra}`.trim();
    glyph.setAttribute("aria-hidden", "true");
    return glyph;
  }

  /** Turn the navbar's button into a Bootstrap dropdown of the three choices. */
  function buildMenu(button) {
    const wrapper = document.createElement("div");
    wrapper.className = "dropdown theme-dropdown";
    button.replaceWith(wrapper);
    button.setAttribute("data-bs-toggle", "dropdown");
    button.setAttribute("aria-expanded", "false");
    button.removeAttribute("aria-pressed");
    const menu = document.createElement("ul");
    menu.id = "theme-menu";
    menu.className = "dropdown-menu dropdown-menu-end shadow theme-menu";
    for (const item of CHOICES) {
      const option = document.createElement("button");
      option.type = "button";
      option.className = "dropdown-item d-flex align-items-center gap-2";
      option.dataset.themeValue = item.value;
      const label = document.createElement("span");
      label.className = "flex-grow-1";
      label.textContent = item.label;
      option.append(icon(item.icon), label, icon("check2", "theme-check ms-auto"));
      option.addEventListener("click", () => {
        remember(item.value);
        apply(item.value);
        button.focus();
      });
      const li = document.createElement("li");
      li.append(option);
      menu.append(li);
    }
    wrapper.append(button, menu);
  }

  apply();
  media.addEventListener("change", () => {
    if (choice() === "system") apply("system");
  });
  window.addEventListener("storage", (event) => {
    if (event.key === KEY || event.key === null) apply(); // chosen in another tab
  });
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    buildMenu(button);
    paintToggle(choice());
  });
})();
