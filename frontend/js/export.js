// The list page's "Export CSV" button: downloads exactly the view in the address bar (filters, search, sort,
// archived; every page of it) as a real browser download. The page asks the API for a single-use download ticket
// (so no access token goes into a URL), then follows a hidden link to the ticketed export: the browser streams the
// file to disk and the page never holds the rows. A refusal (403, 422, API down) shows as the page's other errors.

import { apiUrl, createDownloadTicket } from "./api.js";
import { alertBox, el, replaceChildren } from "./dom.js";

export const EXPORT_PATH = "/api/incidents/export";

/** The export's query for a list state: the list's own parameters, less its paging ("" or "a=b&..."). */
export function exportQuery(state) {
  const params = new URLSearchParams();
  if (state.archived) params.set("archived", "true");
  if (state.search) params.set("search", state.search);
  for (const value of state.severity) params.append("severity", value);
  for (const value of state.status) params.append("status", value);
  if (state.commander) params.set("commander", state.commander);
  params.set("sort_by", state.sort_by);
  params.set("sort_order", state.sort_order);
  return params.toString();
}

/**
 * Wire the button: `getState()` gives the list's current state, `message` is where an error shows.
 * Returns the click handler (for tests).
 */
export function mountExportButton(button, message, getState) {
  async function download() {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    replaceChildren(message);
    try {
      const ticket = await createDownloadTicket(EXPORT_PATH, exportQuery(getState()));
      const link = el("a", { href: apiUrl(ticket.url), hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      replaceChildren(message, alertBox("danger", error.message, { heading: "Could not export", dismissible: true }));
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
  button.addEventListener("click", download);
  return download;
}
