// Small DOM helpers shared by the pages. API data reaches the DOM only as text:
// through `el()` (text nodes / textContent) or the escaping `html` template.

// ---------------------------------------------------------------------------
// Escaping and building elements

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape & < > " ' so that any value is safe in HTML text and in quoted attributes. */
export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

/** A piece of markup built by `html`, trusted because every interpolation was escaped. */
export class SafeHtml {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

function interpolate(value) {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(interpolate).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(value);
}

/** Tagged template: html`<b>${title}</b>` escapes `title`; nested html`` results and arrays of them are kept. */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => {
    out += interpolate(value) + strings[i + 1];
  });
  return new SafeHtml(out);
}

/** Replace the children of `target` with markup from `html`. Plain strings are refused. */
export function setHtml(target, markup) {
  if (!(markup instanceof SafeHtml)) {
    throw new TypeError("setHtml() only takes markup built with the html`` template");
  }
  target.innerHTML = markup.text;
}

/**
 * el("a", {href: url, class: "link"}, "text", otherNode)
 * Strings and numbers become text nodes; null/undefined/false children and attributes are skipped;
 * `true` sets an empty attribute; functions under on* keys become event listeners;
 * `dataset` takes an object.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else {
      node.setAttribute(name === "className" ? "class" : name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) {
      append(node, child);
    } else if (child instanceof Node) {
      node.append(child);
    } else {
      node.append(document.createTextNode(String(child)));
    }
  }
}

/** Replace all children of `target` with the given nodes/strings. */
export function replaceChildren(target, ...children) {
  target.replaceChildren();
  append(target, children);
}

/** A decorative Bootstrap icon, hidden from assistive technology. */
export function icon(name, extraClass = "") {
  return el("i", { class: `bi bi-${name} ${extraClass}`.trim(), "aria-hidden": "true" });
}

// ---------------------------------------------------------------------------
// Incident vocabulary and badges

export const SEVERITIES = ["SEV1", "SEV2", "SEV3", "SEV4"];
export const STATUSES = ["OPEN", "MITIGATED", "RESOLVED"];

// What each severity means: shown where a severity is chosen and as the badges' tooltips.
export const SEVERITY_INFO = {
  SEV1: {
    label: "Critical",
    badge: "text-bg-danger",
    icon: "fire",
    definition: "A core service is down or data is being lost for many customers. Page everyone; work it now.",
  },
  SEV2: {
    label: "Major",
    badge: "text-bg-warning",
    icon: "exclamation-triangle-fill",
    definition: "A major feature is broken or badly degraded for many customers, with no workaround.",
  },
  SEV3: {
    label: "Minor",
    badge: "text-bg-info",
    icon: "exclamation-diamond-fill",
    definition: "Part of a feature is broken or slow for some customers, or a workaround exists.",
  },
  SEV4: {
    label: "Low",
    badge: "text-bg-secondary",
    icon: "arrow-down-circle",
    definition: "A cosmetic or internal problem with little or no customer impact. Fix in working hours.",
  },
};

/** "SEV1 · Critical: A core service is down ..." for a tooltip; "" for an unknown severity. */
export function severityDefinition(severity) {
  const info = SEVERITY_INFO[severity];
  return info ? `${severity} · ${info.label}: ${info.definition}` : "";
}

export const STATUS_INFO = {
  OPEN: { label: "Open", color: "danger", icon: "exclamation-circle-fill" },
  MITIGATED: { label: "Mitigated", color: "warning", icon: "shield-fill-check" },
  RESOLVED: { label: "Resolved", color: "success", icon: "check-circle-fill" },
};

/**
 * The severity as a badge readable from across a room: its colour, an icon and its words ("SEV1 Critical"), the
 * definition as the tooltip and, for assistive technology, as hidden text.
 */
export function severityBadge(severity) {
  const info = SEVERITY_INFO[severity];
  return el(
    "span",
    {
      class: `badge ${info ? info.badge : "text-bg-light border"} severity-badge severity-${String(severity).toLowerCase()}`,
      title: severityDefinition(severity) || null,
    },
    info ? icon(info.icon, "severity-icon") : null,
    el("span", { class: "severity-code" }, severity),
    info ? " " : null,
    info ? el("span", { class: "severity-label" }, info.label) : null,
    info ? el("span", { class: "visually-hidden" }, `: ${info.definition}`) : null,
  );
}

export function statusLabel(status) {
  return STATUS_INFO[status]?.label ?? String(status);
}

export function statusBadge(status) {
  const info = STATUS_INFO[status];
  const color = info ? info.color : "secondary";
  return el(
    "span",
    {
      class: `badge rounded-pill bg-${color}-subtle text-${color}-emphasis border border-${color}-subtle status-badge`,
    },
    info ? icon(info.icon, "status-icon") : null,
    statusLabel(status),
  );
}

// ---------------------------------------------------------------------------
// Times: the API sends UTC ISO 8601 ("2026-11-27T03:05:55Z" or "...+00:00").

/** Parse an API time; a value without an offset is taken as UTC. Returns a Date or null. */
export function parseApiDate(value) {
  if (!value) return null;
  const text = String(value);
  const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  const date = new Date(hasOffset ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });
const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "always" });
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "Nov 27, 2026, 3:05:55 AM UTC" in the reader's locale and time zone. */
export function formatExact(value) {
  const date = parseApiDate(value);
  return date ? exactFormat.format(date) : "";
}

/** "3 hours ago", "in 2 days", "just now". */
export function formatRelative(value, now = Date.now()) {
  const date = parseApiDate(value);
  if (!date) return "";
  const seconds = (date.getTime() - now) / 1000;
  if (Math.abs(seconds) < 45) return "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) {
      return relativeFormat.format(Math.round(seconds / size), unit);
    }
  }
  return relativeFormat.format(Math.sign(seconds), "minute");
}

/**
 * <time datetime="..." title="exact">relative</time>; with {exact: true} the text is
 * "exact (relative)". Returns null for a missing value.
 */
export function timeElement(value, { exact = false } = {}) {
  const date = parseApiDate(value);
  if (!date) return null;
  const exactText = formatExact(value);
  const relative = formatRelative(value);
  return el(
    "time",
    { datetime: date.toISOString(), title: exactText, dataset: { live: exact ? "exact" : "relative" } },
    exact ? `${exactText} (${relative})` : relative,
  );
}

/** Refresh the texts of the <time> elements made by timeElement() under `root` (call once a minute). */
export function refreshRelativeTimes(root = document) {
  for (const node of root.querySelectorAll("time[data-live]")) {
    const value = node.getAttribute("datetime");
    const relative = formatRelative(value);
    node.textContent = node.dataset.live === "exact" ? `${formatExact(value)} (${relative})` : relative;
  }
}

// ---------------------------------------------------------------------------
// Session storage that never throws (it can be disabled): the pages work without it.

export const session = {
  get(key) {
    try {
      return sessionStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      sessionStorage.setItem(key, value);
    } catch {
      // not essential
    }
  },
  /** Read a value once: it is removed. */
  take(key) {
    const value = this.get(key);
    try {
      sessionStorage.removeItem(key);
    } catch {
      // not essential
    }
    return value;
  },
};

// ---------------------------------------------------------------------------
// Alerts

const ALERT_ICONS = { success: "check-circle-fill", danger: "exclamation-triangle-fill", warning: "exclamation-triangle-fill", info: "info-circle-fill" };

/**
 * A Bootstrap alert: alertBox("danger", "Message", {heading, action}).
 * `action` is an optional node (a Retry button, a link) placed after the text.
 */
export function alertBox(kind, message, { heading = null, action = null, dismissible = false } = {}) {
  return el(
    "div",
    {
      class: `alert alert-${kind} d-flex align-items-start gap-2${dismissible ? " alert-dismissible fade show" : ""}`,
      role: kind === "danger" ? "alert" : null,
    },
    icon(ALERT_ICONS[kind] ?? "info-circle-fill", "flex-shrink-0 mt-1"),
    el(
      "div",
      { class: "flex-grow-1" },
      heading ? el("h2", { class: "alert-heading h6 mb-1" }, heading) : null,
      el("div", { class: "alert-message" }, message),
      action ? el("div", { class: "mt-2" }, action) : null,
    ),
    dismissible ? el("button", { type: "button", class: "btn-close", "data-bs-dismiss": "alert", "aria-label": "Close" }) : null,
  );
}
