"""The metrics page: charts with a table of the same numbers under each, filters in the URL, both themes, a phone.

A fixed data set is written straight into the database (the API cannot be told the time), then the metrics'
aggregates and the list's counts are rebuilt from it, as after a seed. Weeks (UTC): W0 2026-06-01, W1 06-08, W2 06-15,
W3 06-22.

| incident | created    | service  | severity | to mitigate | to resolve              | now       |
|----------|------------|----------|----------|-------------|-------------------------|-----------|
| X1       | W0, 06-02  | payments | SEV1     | 30 s        | 45 s                    | RESOLVED  |
| X2       | W1, 06-09  | search   | SEV2     | 60 s        | 1,261,075 s (in W3)     | RESOLVED  |
| X3       | W1, 06-10  | payments | SEV2     |             |                         | OPEN      |
| X4       | W0, 06-03  | search   | SEV3     |             |                         | archived  |
"""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.models import Incident, Severity, Status
from app.services import incidents as incident_service
from app.services import metrics as metric_service

WINDOW = "metrics.html?from=2026-06-01&to=2026-06-28"
F_TO_RESOLVE = 1_261_075  # 14 days 14 hours 17 minutes 55 seconds, a step of the duration scale


def incident(service, severity, created, mitigate=None, resolve=None, archived=False) -> Incident:
    mitigated = created + timedelta(seconds=mitigate) if mitigate is not None else None
    resolved = created + timedelta(seconds=resolve) if resolve is not None else None
    status = Status.RESOLVED if resolved else Status.MITIGATED if mitigated else Status.OPEN
    return Incident(
        title=f"{service} {severity}",
        service=service,
        severity=Severity(severity),
        status=status,
        status_rank=status.rank,
        created_at=created,
        updated_at=resolved or mitigated or created,
        mitigated_at=mitigated,
        resolved_at=resolved,
        archived=archived,
        archived_at=created + timedelta(days=1) if archived else None,
    )


@pytest.fixture
def data_set(e2e_engine: sqlalchemy.Engine) -> None:
    day = datetime(2026, 6, 1, 10, tzinfo=UTC)
    with Session(e2e_engine) as session, session.begin():
        session.add_all(
            [
                incident("payments", "SEV1", day + timedelta(days=1), 30, 45),
                incident("search", "SEV2", day + timedelta(days=8), 60, F_TO_RESOLVE),
                incident("payments", "SEV2", day + timedelta(days=9)),
                incident("search", "SEV3", day + timedelta(days=2), archived=True),
            ]
        )
        session.flush()
        for statement in incident_service.recount_statements():
            session.execute(statement)
        metric_service.rebuild(session.connection())


def watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def rows(page: Page, table: str) -> list[list[str]]:
    return page.locator(f"#{table} tbody tr").evaluate_all(
        """rows => rows.map(row => [...row.cells].map(cell => {
            const seen = cell.cloneNode(true);  // what is on screen: without the badges' hidden definitions
            seen.querySelectorAll(".visually-hidden").forEach((hidden) => hidden.remove());
            return seen.textContent.trim();
        }))"""
    )


def footer(page: Page, table: str) -> list[str]:
    return page.locator(f"#{table} tfoot tr").first.evaluate("row => [...row.cells].map(c => c.textContent.trim())")


def wait_for_charts(page: Page) -> None:
    expect(page.locator("#metrics")).to_be_visible()
    page.wait_for_function(
        "() => ['open-chart', 'weeks-chart', 'severity-chart', 'service-chart']"
        ".every(id => window.Chart && window.Chart.getChart(document.getElementById(id)))"
    )


def test_the_charts_and_their_tables(page: Page, data_set) -> None:
    errors = watch_errors(page)
    page.goto(WINDOW)
    wait_for_charts(page)

    expect(page.locator("#window-summary")).to_have_text(
        "4 weeks, Jun 1, 2026 to Jun 28, 2026 (UTC): 3 incidents created"
    )
    assert rows(page, "open-table") == [
        ["SEV1 Critical", "0"],
        ["SEV2 Major", "1"],
        ["SEV3 Minor", "0"],
        ["SEV4 Low", "0"],
    ]
    expect(page.locator("#open-total")).to_have_text("1")
    assert rows(page, "weeks-table") == [
        ["Jun 1, 2026", "1", "1"],
        ["Jun 8, 2026", "2", "0"],
        ["Jun 15, 2026", "0", "0"],
        ["Jun 22, 2026", "0", "1"],
    ]
    long = "14 days 14 hours"
    assert rows(page, "severity-table") == [
        ["SEV1 Critical", "1", "30 seconds", "30 seconds", "1", "45 seconds", "45 seconds"],
        ["SEV2 Major", "1", "1 minute", "1 minute", "1", long, long],
        ["SEV3 Minor", "0", "—", "—", "0", "—", "—"],
        ["SEV4 Low", "0", "—", "—", "0", "—", "—"],
    ]
    # 30 and 60 s: the median is the 1st, p90 the 2nd; 45 s and 14 days likewise.
    assert footer(page, "severity-table") == ["All", "2", "30 seconds", "1 minute", "2", "45 seconds", long]
    assert rows(page, "service-table") == [
        ["payments", "1", "30 seconds", "30 seconds", "1", "45 seconds", "45 seconds"],
        ["search", "1", "1 minute", "1 minute", "1", long, long],
    ]
    # The exact figure on hover: SEV2's median and p90, and the footer's p90.
    assert page.locator("#severity-table td[title='1,261,075 seconds']").count() == 3
    # Every chart is an image with a name; the tables carry the data.
    for chart in ("open-chart", "weeks-chart", "severity-chart", "service-chart"):
        assert page.locator(f"#{chart}").get_attribute("role") == "img"
    expect(page.locator("#open-chart")).to_have_attribute(
        "aria-label",
        "Bar chart of open incidents now by severity: SEV1 0, SEV2 1, SEV3 0, SEV4 0. "
        "The table below has the same numbers.",
    )
    assert "1 created and" not in page.locator("#weeks-chart").get_attribute("aria-label")
    assert "3 created and 2 resolved" in page.locator("#weeks-chart").get_attribute("aria-label")
    for caption in ("Open incidents now, by severity", "Incidents created and resolved per week"):
        expect(page.get_by_role("table", name=caption)).to_be_visible()
    assert page.evaluate("Chart.getChart(document.getElementById('weeks-chart')).data.datasets[1].data") == [1, 0, 0, 1]
    assert errors == []


def test_filters_live_in_the_url(page: Page, data_set) -> None:
    page.goto(WINDOW)
    wait_for_charts(page)

    page.get_by_label("Service", exact=True).fill("payments")
    page.get_by_label("SEV2", exact=True).check()
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(f"{page.url.split('?')[0]}?from=2026-06-01&to=2026-06-28&service=payments&severity=SEV2")
    expect(page.locator("#window-summary")).to_have_text(
        "4 weeks, Jun 1, 2026 to Jun 28, 2026 (UTC): 1 incident created (service payments; SEV2)"
    )
    expect(page.locator("#open-table tbody tr")).to_have_count(1)
    assert rows(page, "open-table") == [["SEV2 Major", "1"]]
    assert rows(page, "service-table") == [["No service has a figure in these weeks."]]

    page.reload()
    expect(page.locator("#open-table tbody tr")).to_have_count(1)
    expect(page.get_by_label("Service", exact=True)).to_have_value("payments")
    expect(page.get_by_label("SEV2", exact=True)).to_be_checked()
    expect(page.get_by_label("From", exact=True)).to_have_value("2026-06-01")
    assert rows(page, "open-table") == [["SEV2 Major", "1"]]

    page.go_back()
    expect(page.get_by_label("Service", exact=True)).to_have_value("")
    expect(page.locator("#open-table tbody tr")).to_have_count(4)
    expect(page.locator("#open-total")).to_have_text("1")


def test_to_is_included_and_the_default_window_fills_the_dates(page: Page, data_set) -> None:
    page.goto("metrics.html?from=2026-06-01&to=2026-06-07")
    expect(page.locator("#window-summary")).to_have_text("1 week, Jun 1, 2026 to Jun 7, 2026 (UTC): 1 incident created")

    page.goto("metrics.html")
    expect(page.locator("#window-summary")).to_contain_text("12 weeks, ")
    today = datetime.now(UTC).date()
    expect(page.get_by_label("To", exact=True)).to_have_value(today.isoformat())
    assert page.get_by_label("From", exact=True).input_value() == (
        metric_service.default_start(datetime.now(UTC)).date().isoformat()
    )


def test_an_empty_window_says_so(page: Page, data_set) -> None:
    page.goto("metrics.html?from=2025-01-06&to=2025-01-19")
    expect(page.get_by_text("No incident was created or resolved in these weeks.")).to_be_visible()
    expect(page.get_by_text("No incident created in these weeks has been mitigated or resolved yet")).to_be_visible()
    expect(page.locator("#weeks-chart")).to_be_hidden()
    assert rows(page, "weeks-table") == [["Jan 6, 2025", "0", "0"], ["Jan 13, 2025", "0", "0"]]
    expect(page.locator("#open-total")).to_have_text("1")  # open now is whatever the dates


def test_dates_in_the_wrong_order_are_refused(page: Page, data_set) -> None:
    page.goto(WINDOW)
    wait_for_charts(page)
    page.get_by_label("From", exact=True).fill("2026-07-01")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#filter-errors")).to_contain_text("“From” must be on or before “To”.")
    assert page.url.endswith(WINDOW)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_both_themes_draw_in_the_themes_colours(page: Page, data_set, theme: str) -> None:
    errors = watch_errors(page)
    page.emulate_media(color_scheme=theme)
    page.goto(WINDOW)
    wait_for_charts(page)
    assert page.evaluate("document.documentElement.dataset.bsTheme") == theme

    def chart_text_colour() -> tuple[str, str]:
        return page.evaluate(
            """() => [Chart.getChart(document.getElementById('weeks-chart')).options.plugins.legend.labels.color,
                      getComputedStyle(document.documentElement).getPropertyValue('--bs-body-color').trim()]"""
        )

    drawn, body = chart_text_colour()
    assert drawn == body
    other = "dark" if theme == "light" else "light"
    page.locator("#theme-toggle").click()
    page.locator("#theme-menu").get_by_role("button", name=other.capitalize()).click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", other)
    redrawn, other_body = chart_text_colour()
    assert redrawn == other_body != body
    assert errors == []


def test_a_phone_does_not_scroll_sideways(page: Page, data_set) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(WINDOW)
    wait_for_charts(page)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for chart in ("open-chart", "weeks-chart", "severity-chart", "service-chart"):
        assert page.locator(f"#{chart}").bounding_box()["width"] <= 390
