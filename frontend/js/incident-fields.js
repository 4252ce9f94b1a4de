// Two fields of the incident form, shared by create.html and detail.html: who is commander (a select of the
// active people, "Me" first) and the definition of the chosen severity under its select.

import { listPeople } from "./api.js";
import { el, severityDefinition } from "./dom.js";

let people = null;

/** The active people ({id, display_name}), asked once per page (the API gives up to 100, by name). */
export function loadPeople() {
  people ??= listPeople({ limit: 100 }).then(
    (page) => page.items ?? [],
    (error) => {
      people = null; // ask again next time
      throw error;
    },
  );
  return people;
}

/**
 * Fill a commander <select>: "No commander", then "Me (name)" when `me` is given, then everyone else by name;
 * `keep` (people, e.g. the incident's commander) stay choosable even when the list no longer has them (an
 * account deactivated since). The selected value is kept.
 */
export function fillCommanderSelect(select, list, { me = null, keep = [] } = {}) {
  const value = select.value;
  const seen = new Set();
  const options = [el("option", { value: "" }, "No commander")];
  const add = (person, text) => {
    if (!person || seen.has(person.id)) return;
    seen.add(person.id);
    options.push(el("option", { value: String(person.id) }, text ?? person.display_name));
  };
  if (me) add(me, `Me (${me.display_name})`);
  for (const person of list) add(person);
  for (const person of keep) add(person);
  select.replaceChildren(...options);
  select.value = [...select.options].some((option) => option.value === value) ? value : "";
}

/** Make sure `person` ({id, display_name}) is one of the select's options (e.g. a commander set by someone else). */
export function ensureCommanderOption(select, person) {
  if (!person || [...select.options].some((option) => option.value === String(person.id))) return;
  select.append(el("option", { value: String(person.id) }, person.display_name));
}

/** Under a severity select: what the chosen severity means, following the selection. */
export function showSeverityDefinition(select, help) {
  const update = () => {
    help.textContent = select.value ? severityDefinition(select.value) : "Choose a severity to see what it means.";
  };
  select.addEventListener("change", update);
  select.addEventListener("input", update);
  update();
  return update;
}
