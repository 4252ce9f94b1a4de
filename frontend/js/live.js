// The live feed: the only WebSocket in the frontend. One connection to /api/live per page, signed in with the
// session's token; every message becomes a CustomEvent on the returned target, and each page decides what a
// change means for what it shows:
//   "change"  detail: {cursor, event, incident}  an audit event and the incident after it
//   "removed" detail: {cursor, incidentId}       an incident this reader may no longer see (archived)
//   "resync"                                      too much was missed: reload what is shown
//   "status"  detail: {status}                    "connecting", "live", "reconnecting" or "offline"
// A dropped connection is opened again after a delay that doubles up to a cap, with jitter (many pages
// reconnecting at once do not arrive together), and resumes after the last cursor seen. Nothing polls.

import { getToken, liveSessionExpired, liveUrl } from "./api.js";
import { el } from "./dom.js";

const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;
// After this many failed attempts in a row the indicator says "offline" (the attempts go on, at the cap).
const OFFLINE_AFTER_FAILURES = 4;
const TOKEN_REFUSED = 4401;

/** The delay before attempt `failures` + 1: half the backoff for sure, the other half at random. */
export function reconnectDelay(failures, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};
const STATUS_HINT = {
  connecting: "Connecting to live updates",
  live: "Changes by others show up as they happen",
  reconnecting: "The live connection dropped; trying again",
  offline: "No live updates: the API cannot be reached. Reload to see the latest.",
};

/** Show `status` in the indicator (text and colour; the container is a polite live region). */
export function renderLiveStatus(container, status) {
  if (!container) return;
  container.dataset.status = status;
  container.title = STATUS_HINT[status] ?? "";
  container.replaceChildren(
    el("span", { class: "live-dot", "aria-hidden": "true" }),
    el("span", { class: "live-text" }, STATUS_TEXT[status] ?? status),
  );
}

/**
 * Open the live feed. `indicator`: the element showing the connection's state. Returns an EventTarget
 * (see above) with `close()`.
 */
export function connectLive({ indicator = null } = {}) {
  const target = new EventTarget();
  let socket = null;
  let cursor = null; // the last cursor seen: where a new connection resumes
  let failures = 0; // attempts in a row that never got to "ready"
  let timer = null;
  let closed = false;
  let status = null;

  const emit = (type, detail) => target.dispatchEvent(new CustomEvent(type, { detail }));

  function setStatus(next) {
    if (next === status) return;
    status = next;
    renderLiveStatus(indicator, next);
    emit("status", { status: next });
  }

  function scheduleReconnect() {
    if (closed) return;
    failures += 1;
    setStatus(failures >= OFFLINE_AFTER_FAILURES || navigator.onLine === false ? "offline" : "reconnecting");
    clearTimeout(timer);
    timer = setTimeout(open, reconnectDelay(failures));
  }

  function handle(message) {
    if (!message || typeof message !== "object") return;
    if (typeof message.cursor === "number" || typeof message.cursor === "string") cursor = message.cursor;
    switch (message.type) {
      case "ready":
        failures = 0;
        setStatus("live");
        break;
      case "event":
        if (message.incident && message.event) {
          emit("change", { cursor: message.cursor, event: message.event, incident: message.incident });
        }
        break;
      case "removed":
        emit("removed", { cursor: message.cursor, incidentId: message.incident_id });
        break;
      case "resync":
        emit("resync", {});
        break;
      default:
        break; // "ping" and anything newer: nothing to do
    }
  }

  function open() {
    if (closed) return;
    const token = getToken();
    if (token === null) {
      liveSessionExpired(); // it ran out or the person signed out in another tab
      return;
    }
    setStatus(status === null ? "connecting" : status);
    let ws;
    try {
      ws = new WebSocket(liveUrl());
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "auth", token, after: cursor }));
    });
    ws.addEventListener("message", (event) => {
      if (socket !== ws) return;
      let message = null;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours
      }
      handle(message);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      if (closed) return;
      if (event.code === TOKEN_REFUSED) {
        closed = true;
        liveSessionExpired();
        return;
      }
      scheduleReconnect();
    });
  }

  // Back online: try at once rather than at the end of a long delay.
  window.addEventListener("online", () => {
    if (closed || socket) return;
    clearTimeout(timer);
    open();
  });
  window.addEventListener("offline", () => {
    if (!closed && status !== "live") setStatus("offline");
  });
  // Leaving the page: close quietly (no reconnect); back from the history cache: resume where it stopped.
  window.addEventListener("pagehide", () => target.close());
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    closed = false;
    open();
  });

  target.close = () => {
    closed = true;
    clearTimeout(timer);
    socket?.close(1000);
    socket = null;
  };

  open();
  return target;
}
