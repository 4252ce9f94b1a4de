"""How fast the list page shows its rows, and whether its layout jumps, in Chromium (Playwright for Python).

Serves frontend/ with scripts/serve_web.py (pointed at the API), signs in through the sign-in page once, then opens
the list page in a fresh browser context (cold cache, the same signed-in session) `--runs` times and measures:

- rows: the time from navigation start until the first data row of the table is visible (the first animation frame
  after a `tr.incident-row` is in the DOM), in milliseconds;
- CLS: the cumulative layout shift (the `layout-shift` entries of a PerformanceObserver without recent input) from
  navigation start until one second after the rows are shown.

Prints one JSON line with every run and the medians. The password comes from BENCH_PASSWORD. Used by bench/run.py:

    BENCH_PASSWORD=... python bench/page_timing.py --api-url http://127.0.0.1:PORT --web-port PORT --email EMAIL
"""

import argparse
import json
import os
import statistics
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from serve_web import make_server  # noqa: E402 - scripts/ is not a package

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# As in backend/tests/e2e/conftest.py.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Installed before any script of the page runs.
PROBE = """
window.__bench = { cls: 0, rowsAt: null };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__bench.cls += entry.value;
  }
}).observe({ type: "layout-shift", buffered: true });
new MutationObserver((_changes, observer) => {
  if (window.__bench.rowsAt === null && document.querySelector("#rows tr.incident-row")) {
    observer.disconnect();
    requestAnimationFrame(() => { window.__bench.rowsAt = performance.now(); });
  }
}).observe(document, { childList: true, subtree: true });
"""


def measure(api_url: str, web_port: int, email: str, password: str, runs: int) -> dict:
    server = make_server("127.0.0.1", web_port, api_url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    web = f"http://127.0.0.1:{web_port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(locale="en-US", timezone_id="UTC")
            page = context.new_page()
            page.goto(f"{web}/login.html")
            page.fill("#email", email)
            page.fill("#password", password)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#rows tr.incident-row", timeout=60_000)
            state = context.storage_state()
            context.close()
            rows_ms, cls = [], []
            for _ in range(runs):
                context = browser.new_context(locale="en-US", timezone_id="UTC", storage_state=state)
                context.add_init_script(PROBE)
                page = context.new_page()
                page.goto(f"{web}/index.html")
                # Not wait_for_function: its polling evaluates code, which the pages' CSP (no 'unsafe-eval') refuses.
                page.wait_for_selector("#rows tr.incident-row", state="visible", timeout=60_000)
                page.wait_for_timeout(1000)
                probe = page.evaluate("window.__bench")
                rows_ms.append(probe["rowsAt"])
                cls.append(probe["cls"])
                context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "rows_ms": rows_ms,
        "cls": cls,
        "rows_ms_median": statistics.median(rows_ms),
        "cls_median": statistics.median(cls),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--web-port", type=int, required=True, help="a port the API allows by CORS")
    parser.add_argument("--email", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        print(f"Chromium not found at {CHROMIUM} (set CHROMIUM_PATH)", file=sys.stderr)
        return 2
    result = measure(args.api_url, args.web_port, args.email, os.environ["BENCH_PASSWORD"], args.runs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
