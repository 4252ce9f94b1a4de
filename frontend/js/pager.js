// Numbered paging for the admin pages (users, audit log): the page lives in the query string, so every page link
// is a real link that can be shared, and the page reads the new address when one is followed.

import { el, replaceChildren } from "./dom.js";
import { pageNumbers } from "./list-state.js";

const NUMBER = new Intl.NumberFormat("en-US");

/** A positive page number from the query string, 1 when absent or not a whole number. */
export function pageFrom(params) {
  const text = params.get("page") ?? "";
  const page = /^\d{1,9}$/.test(text) ? Number(text) : 1;
  return page >= 1 ? page : 1;
}

/** "Showing 21-40 of 45 users"; "No users" / "Showing 0 of 45 users" past the last page. */
export function pageSummary({ page, limit, total }, count, noun) {
  const plural = total === 1 ? noun : `${noun}s`;
  if (count === 0) return total === 0 ? `No ${noun}s` : `Showing 0 of ${NUMBER.format(total)} ${plural}`;
  const first = (page - 1) * limit + 1;
  return `Showing ${NUMBER.format(first)}-${NUMBER.format(first + count - 1)} of ${NUMBER.format(total)} ${plural}`;
}

function item(label, page, hrefFor, { current = false, disabled = false, ariaLabel = label } = {}) {
  if (current || disabled) {
    return el(
      "li",
      { class: `page-item ${current ? "active" : "disabled"}`, "aria-current": current ? "page" : null },
      el("span", { class: "page-link" }, label),
    );
  }
  return el(
    "li",
    { class: "page-item" },
    el("a", { class: "page-link", href: hrefFor(page), dataset: { page: String(page) }, "aria-label": ariaLabel }, label),
  );
}

/** Previous, the page numbers (with gaps) and Next into `list` (a <ul class="pagination">); empty for one page. */
export function renderPager(list, { page, pages }, hrefFor) {
  if (pages <= 1 && page <= 1) {
    replaceChildren(list);
    return;
  }
  const items = [item("Previous", Math.max(Math.min(page - 1, pages), 1), hrefFor, { disabled: page <= 1, ariaLabel: "Previous page" })];
  for (const number of pageNumbers(Math.min(page, pages), pages)) {
    items.push(
      number === null
        ? el("li", { class: "page-item disabled" }, el("span", { class: "page-link" }, "…"))
        : item(String(number), number, hrefFor, { current: number === page, ariaLabel: `Page ${number}` }),
    );
  }
  items.push(item("Next", page + 1, hrefFor, { disabled: page >= pages, ariaLabel: "Next page" }));
  replaceChildren(list, items);
}
