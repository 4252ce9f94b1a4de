"""axe-core in the browser tests: inject the vendored copy (vendor/axe.min.js, see vendor/README.md) into a page
and fail on every `serious` or `critical` finding, printed one per line with the elements it names."""

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


@cache
def axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


FAILING_IMPACTS = ("serious", "critical")
# The WCAG 2.x A and AA rules and axe's own best practices.
RUN_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}
}


def run_axe(page: Page, context: str | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """axe.run() on the page as it is now (or on `context`, a selector or axe context): the violations."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: the pages' CSP (scripts of their own origin only) stays on,
        # and would refuse a <script> added to the page.
        page.evaluate(f"() => {{ {axe_source()} }}")
    result = page.evaluate("([context, options]) => axe.run(context ?? document, options)", [context, RUN_OPTIONS])
    return result["violations"]


def describe(violations: list[dict[str, Any]]) -> str:
    """One readable block per violation: rule, impact, what it means, and each element with axe's summary."""
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = (node.get("failureSummary") or "").replace("\n", " ").strip()
            lines.append(f"    {target}\n        {node['html'][:200]}\n        {summary}")
    return "\n".join(lines)


def serious_violations(page: Page, context: str | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [v for v in run_axe(page, context) if v["impact"] in FAILING_IMPACTS]


def assert_no_serious_violations(page: Page, where: str = "", context: str | dict[str, Any] | None = None) -> None:
    """No `serious` or `critical` axe-core finding on the page (or within `context`)."""
    found = serious_violations(page, context)
    assert not found, (
        f"axe-core found {len(found)} serious or critical problem(s) on {where or page.url}:\n" + describe(found)
    )
