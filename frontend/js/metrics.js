// The metrics page: open incidents now, created and resolved per week, time to mitigate and to resolve.
// The filters (from, to as UTC dates, both included; service; severity, repeatable) live in the query string.
// Each chart (Chart.js, vendored: the global `Chart`) has a table with the same numbers under it; the charts take
// their colours from Bootstrap's CSS variables and are drawn again when the theme changes.

import { ApiError, getMetrics } from "./api.js";
import { SEVERITIES, SEVERITY_INFO, alertBox, el, replaceChildren, severityBadge } from "./dom.js";
import { startSignedInPage } from "./session.js";

const form = document.querySelector("#filters");
const messages = document.querySelector("#messages");
const filterErrors = document.querySelector("#filter-errors");
const loading = document.querySelector("#loading");
const content = document.querySelector("#metrics");
const summary = document.querySelector("#window-summary");

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

// ---------------------------------------------------------------------------
// State <-> query string

/** The page's state from a query string: {from, to, service, severity: []}, unknown values dropped. */
function stateFromQuery(query) {
  const params = new URLSearchParams(query);
  const date = (name) => (DATE.test(params.get(name) ?? "") ? params.get(name) : "");
  return {
    from: date("from"),
    to: date("to"),
    service: (params.get("service") ?? "").trim(),
    severity: SEVERITIES.filter((severity) => params.getAll("severity").includes(severity)),
  };
}

function stateToQuery(state) {
  const params = new URLSearchParams();
  if (state.from) params.set("from", state.from);
  if (state.to) params.set("to", state.to);
  if (state.service) params.set("service", state.service);
  for (const severity of state.severity) params.append("severity", severity);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The API's parameters: a UTC day from its start; `to` is included, so the window ends when the next day starts. */
function apiParams(state) {
  const params = { service: state.service || null, severity: state.severity };
  if (state.from) params.from = `${state.from}T00:00:00Z`;
  if (state.to) params.to = `${addDays(state.to, 1)}T00:00:00Z`;
  return params;
}

function addDays(day, days) {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function readForm() {
  const data = new FormData(form);
  return {
    from: String(data.get("from") || ""),
    to: String(data.get("to") || ""),
    service: String(data.get("service") || "").trim(),
    severity: SEVERITIES.filter((severity) => data.getAll("severity").includes(severity)),
  };
}

function fillForm(state, answer = null) {
  // Without dates in the URL the form shows the window the API chose (its default).
  form.elements.from.value = state.from || (answer ? answer.from.slice(0, 10) : "");
  form.elements.to.value = state.to || (answer ? dayBefore(answer.to) : "");
  form.elements.service.value = state.service;
  for (const box of form.querySelectorAll("input[name=severity]")) box.checked = state.severity.includes(box.value);
}

/** The last UTC day a window that ends at `end` (excluded) includes. */
function dayBefore(end) {
  return new Date(Date.parse(end) - 1).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------
// Words

const numberFormat = new Intl.NumberFormat("en");
const dayFormat = new Intl.DateTimeFormat("en", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const shortDayFormat = new Intl.DateTimeFormat("en", { day: "numeric", month: "short", timeZone: "UTC" });

const DURATION_UNITS = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];

function plural(count, unit) {
  return `${numberFormat.format(count)} ${unit}${count === 1 ? "" : "s"}`;
}

/** "3 hours 20 minutes", "45 seconds", "2 days 4 hours": the two largest units, rounded down. "—" for none. */
export function durationWords(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds === 0) return "0 seconds";
  const parts = [];
  let rest = seconds;
  for (const [unit, size] of DURATION_UNITS) {
    if (rest >= size && parts.length < 2) {
      parts.push(plural(Math.floor(rest / size), unit));
      rest %= size;
    } else if (parts.length) {
      break; // two adjacent units at most: "2 days 4 hours", never "2 days 10 seconds"
    }
  }
  return parts.join(" ");
}

/** "3.5 h", "12 min", "2.1 d": for an axis. */
function durationShort(seconds) {
  if (seconds >= 86_400) return `${+(seconds / 86_400).toFixed(1)} d`;
  if (seconds >= 3_600) return `${+(seconds / 3_600).toFixed(1)} h`;
  if (seconds >= 60) return `${+(seconds / 60).toFixed(1)} min`;
  return `${seconds} s`;
}

function durationCell(seconds) {
  return el(
    "td",
    { class: "text-end", title: seconds === null ? null : `${numberFormat.format(seconds)} seconds` },
    durationWords(seconds),
  );
}

function weekLabel(week) {
  return shortDayFormat.format(new Date(`${week}T00:00:00Z`));
}

// ---------------------------------------------------------------------------
// Charts

const charts = new Map(); // canvas id -> Chart

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function palette() {
  return {
    text: cssVar("--bs-body-color"),
    muted: cssVar("--bs-secondary-color"),
    grid: cssVar("--bs-border-color"),
    severity: {
      SEV1: cssVar("--bs-danger"),
      SEV2: cssVar("--bs-warning"),
      SEV3: cssVar("--bs-info"),
      SEV4: cssVar("--bs-secondary"),
    },
    created: cssVar("--bs-primary"),
    resolved: cssVar("--bs-success"),
    mitigateMedian: cssVar("--bs-info"),
    mitigateP90: cssVar("--bs-info-border-subtle"),
    resolveMedian: cssVar("--bs-success"),
    resolveP90: cssVar("--bs-success-border-subtle"),
  };
}

/** Options shared by every chart, in the theme's colours; `durations` puts durations on the value axis. */
function baseOptions(colors, { durations = false, horizontal = false, legend = true } = {}) {
  const valueAxis = {
    beginAtZero: true,
    ticks: { color: colors.muted, precision: 0, ...(durations ? { callback: (value) => durationShort(value) } : {}) },
    grid: { color: colors.grid },
  };
  const categoryAxis = { ticks: { color: colors.muted, autoSkip: true, maxRotation: 0 }, grid: { display: false } };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    indexAxis: horizontal ? "y" : "x",
    scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
    plugins: {
      legend: { display: legend, labels: { color: colors.text, boxWidth: 12 } },
      tooltip: durations
        ? { callbacks: { label: (item) => `${item.dataset.label}: ${durationWords(item.raw)}` } }
        : {},
    },
  };
}

function draw(id, config, label) {
  const canvas = document.getElementById(id);
  canvas.setAttribute("aria-label", label);
  charts.get(id)?.destroy();
  charts.set(id, new window.Chart(canvas, config));
}

function durationDatasets(rows, colors) {
  const series = [
    ["Median time to mitigate", colors.mitigateMedian, (row) => row.time_to_mitigate.median_seconds],
    ["p90 time to mitigate", colors.mitigateP90, (row) => row.time_to_mitigate.p90_seconds],
    ["Median time to resolve", colors.resolveMedian, (row) => row.time_to_resolve.median_seconds],
    ["p90 time to resolve", colors.resolveP90, (row) => row.time_to_resolve.p90_seconds],
  ];
  return series.map(([label, color, value]) => ({
    label,
    data: rows.map(value),
    backgroundColor: color,
    borderColor: colors.text,
    borderWidth: label.startsWith("p90") ? 1 : 0,
  }));
}

function drawCharts(answer) {
  if (typeof window.Chart !== "function") return; // the tables still carry every number
  const colors = palette();
  window.Chart.defaults.color = colors.text;
  window.Chart.defaults.borderColor = colors.grid;
  window.Chart.defaults.font.family = cssVar("--bs-body-font-family");

  const open = answer.open_now;
  draw(
    "open-chart",
    {
      type: "bar",
      data: {
        labels: open.map((row) => row.severity),
        datasets: [
          {
            label: "Open now",
            data: open.map((row) => row.count),
            backgroundColor: open.map((row) => colors.severity[row.severity]),
            borderColor: colors.text,
            borderWidth: 1,
          },
        ],
      },
      options: baseOptions(colors, { legend: false }),
    },
    `Bar chart of open incidents now by severity: ${open.map((row) => `${row.severity} ${row.count}`).join(", ")}. ` +
      "The table below has the same numbers.",
  );

  const weeks = answer.weeks;
  const created = weeks.reduce((sum, week) => sum + week.created, 0);
  const resolved = weeks.reduce((sum, week) => sum + week.resolved, 0);
  draw(
    "weeks-chart",
    {
      type: "bar",
      data: {
        labels: weeks.map((week) => weekLabel(week.week)),
        datasets: [
          { label: "Created", data: weeks.map((week) => week.created), backgroundColor: colors.created },
          { label: "Resolved", data: weeks.map((week) => week.resolved), backgroundColor: colors.resolved },
        ],
      },
      options: baseOptions(colors),
    },
    `Bar chart of incidents created and resolved in each of ${weeks.length} weeks: ${numberFormat.format(created)} ` +
      `created and ${numberFormat.format(resolved)} resolved in all. The table below has the numbers per week.`,
  );

  const bySeverity = answer.durations_by_severity;
  draw(
    "severity-chart",
    {
      type: "bar",
      data: { labels: bySeverity.map((row) => row.severity), datasets: durationDatasets(bySeverity, colors) },
      options: baseOptions(colors, { durations: true }),
    },
    "Bar chart of the median and 90th percentile time to mitigate and to resolve for each severity. " +
      "The table below has the same figures.",
  );

  const byService = answer.durations_by_service;
  document.querySelector("#service-chart").parentElement.style.setProperty(
    "--chart-height",
    `${Math.max(12, 4 + byService.length * 3)}rem`,
  );
  draw(
    "service-chart",
    {
      type: "bar",
      data: { labels: byService.map((row) => row.service), datasets: durationDatasets(byService, colors) },
      options: baseOptions(colors, { durations: true, horizontal: true }),
    },
    `Horizontal bar chart of the median and 90th percentile time to mitigate and to resolve for each of ` +
      `${byService.length} services. The table below has the same figures.`,
  );
}

// ---------------------------------------------------------------------------
// Tables

function count(value) {
  return el("td", { class: "text-end" }, numberFormat.format(value));
}

function renderOpen(answer) {
  const rows = answer.open_now.map((row) =>
    el("tr", {}, el("th", { scope: "row" }, severityBadge(row.severity)), count(row.count)),
  );
  replaceChildren(document.querySelector("#open-table tbody"), ...rows);
  document.querySelector("#open-total").textContent = numberFormat.format(answer.open_now_total);
}

function renderWeeks(answer) {
  const rows = answer.weeks.map((week) =>
    el(
      "tr",
      {},
      el("th", { scope: "row" }, el("time", { datetime: week.week }, dayFormat.format(new Date(`${week.week}T00:00:00Z`)))),
      count(week.created),
      count(week.resolved),
    ),
  );
  replaceChildren(document.querySelector("#weeks-table tbody"), ...rows);
}

function durationsHead(first) {
  return el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col", rowspan: "2" }, first),
      el("th", { scope: "colgroup", colspan: "3", class: "text-center" }, "Time to mitigate"),
      el("th", { scope: "colgroup", colspan: "3", class: "text-center" }, "Time to resolve"),
    ),
    el(
      "tr",
      {},
      ...["Mitigated", "Median", "p90", "Resolved", "Median", "p90"].map((name) =>
        el("th", { scope: "col", class: "text-end" }, name),
      ),
    ),
  );
}

function durationRow(header, row, { scope = "row" } = {}) {
  return el(
    "tr",
    {},
    el("th", { scope }, header),
    count(row.time_to_mitigate.count),
    durationCell(row.time_to_mitigate.median_seconds),
    durationCell(row.time_to_mitigate.p90_seconds),
    count(row.time_to_resolve.count),
    durationCell(row.time_to_resolve.median_seconds),
    durationCell(row.time_to_resolve.p90_seconds),
  );
}

function renderDurations(answer) {
  const severityTable = document.querySelector("#severity-table");
  severityTable.querySelector("thead").replaceWith(durationsHead("Severity"));
  replaceChildren(
    severityTable.querySelector("tbody"),
    ...answer.durations_by_severity.map((row) => durationRow(severityBadge(row.severity), row)),
  );
  replaceChildren(severityTable.querySelector("tfoot"), durationRow("All", answer.durations));

  const serviceTable = document.querySelector("#service-table");
  serviceTable.querySelector("thead").replaceWith(durationsHead("Service"));
  const services = answer.durations_by_service;
  replaceChildren(
    serviceTable.querySelector("tbody"),
    ...(services.length
      ? services.map((row) => durationRow(row.service, row))
      : [el("tr", {}, el("td", { colspan: "7", class: "text-body-secondary" }, "No service has a figure in these weeks."))]),
  );
  replaceChildren(
    document.querySelector("#service-names"),
    ...services.map((row) => el("option", { value: row.service })),
  );
}

function renderEmptyStates(answer) {
  const nothingInWeeks = answer.weeks.every((week) => week.created === 0 && week.resolved === 0);
  const noDurations = answer.durations.time_to_mitigate.count === 0 && answer.durations.time_to_resolve.count === 0;
  const weeksEmpty = document.querySelector("#weeks-empty");
  const durationsEmpty = document.querySelector("#durations-empty");
  replaceChildren(
    weeksEmpty,
    nothingInWeeks ? alertBox("info", "No incident was created or resolved in these weeks.", { heading: "Nothing here" }) : null,
  );
  replaceChildren(
    durationsEmpty,
    noDurations
      ? alertBox("info", "No incident created in these weeks has been mitigated or resolved yet, so there is no time to show.", {
          heading: "No durations",
        })
      : null,
  );
  // An empty chart says nothing: its canvas is hidden; the table still shows the zeros.
  document.querySelector("#weeks-chart").parentElement.hidden = nothingInWeeks;
  document.querySelector("#severity-chart").parentElement.hidden = noDurations;
  document.querySelector("#service-chart").parentElement.hidden = noDurations;
}

function renderSummary(answer) {
  const first = answer.weeks_start.slice(0, 10);
  const last = addDays(answer.weeks_end.slice(0, 10), -1);
  const created = answer.weeks.reduce((sum, week) => sum + week.created, 0);
  const filters = [answer.service ? `service ${answer.service}` : null, answer.severity.length < 4 ? answer.severity.join(", ") : null]
    .filter(Boolean)
    .join("; ");
  summary.textContent =
    `${plural(answer.weeks.length, "week")}, ${dayFormat.format(new Date(`${first}T00:00:00Z`))} to ` +
    `${dayFormat.format(new Date(`${last}T00:00:00Z`))} (UTC): ${plural(created, "incident")} created` +
    (filters ? ` (${filters})` : "");
}

// ---------------------------------------------------------------------------
// Loading

let lastAnswer = null;
let controller = null;

async function load() {
  const state = stateFromQuery(location.search);
  fillForm(state);
  controller?.abort();
  controller = new AbortController();
  messages.replaceChildren();
  filterErrors.replaceChildren();
  loading.hidden = false;
  try {
    const answer = await getMetrics(apiParams(state), { signal: controller.signal });
    lastAnswer = answer;
    fillForm(state, answer);
    renderSummary(answer);
    renderOpen(answer);
    renderWeeks(answer);
    renderDurations(answer);
    renderEmptyStates(answer);
    content.hidden = false;
    drawCharts(answer);
  } catch (error) {
    if (error.name === "AbortError") return;
    content.hidden = true;
    summary.textContent = "";
    const retry = el("button", { type: "button", class: "btn btn-sm btn-outline-secondary", onclick: () => load() }, "Try again");
    if (error instanceof ApiError && error.status === 422) {
      const details = (error.problem?.errors ?? []).map((item) => item.msg);
      filterErrors.replaceChildren(alertBox("danger", details.join(" ") || error.message, { heading: "Check the filters" }));
    } else {
      messages.replaceChildren(alertBox("danger", error.message, { heading: "Could not load the metrics", action: retry }));
    }
  } finally {
    loading.hidden = true;
  }
}

function severityOptions() {
  const boxes = SEVERITIES.map((severity) =>
    el(
      "div",
      { class: "form-check mb-0", title: `${severity} · ${SEVERITY_INFO[severity].label}: ${SEVERITY_INFO[severity].definition}` },
      el("input", { class: "form-check-input", type: "checkbox", name: "severity", value: severity, id: `severity-${severity}` }),
      el("label", { class: "form-check-label", for: `severity-${severity}` }, severity),
    ),
  );
  replaceChildren(document.querySelector("#severity-options"), ...boxes);
}

function submit(event) {
  event.preventDefault();
  const state = readForm();
  if (state.from && state.to && state.from > state.to) {
    filterErrors.replaceChildren(alertBox("danger", "“From” must be on or before “To”.", { heading: "Check the filters" }));
    form.elements.from.focus();
    return;
  }
  history.pushState(null, "", `metrics.html${stateToQuery(state)}`);
  load().then(() => document.querySelector("#metrics-heading").focus());
}

severityOptions();
form.addEventListener("submit", submit);
window.addEventListener("popstate", () => load());
document.addEventListener("themechange", () => {
  if (lastAnswer && !content.hidden) drawCharts(lastAnswer);
});

startSignedInPage().then(
  () => load(),
  () => load(), // the menu offers Sign out only; the metrics may still answer
);
