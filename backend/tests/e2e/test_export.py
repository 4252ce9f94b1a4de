"""The list page's "Export CSV" button: a real download of exactly the view shown, fetched with a download ticket."""

import csv
import io
import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.conftest import ApiAs, CreateIncident

pytestmark = pytest.mark.e2e

FILENAME = re.compile(r"^incidents-\d{8}T\d{6}Z\.csv$")


def download_rows(page: Page) -> list[list[str]]:
    """Click Export CSV and read the file the browser saved."""
    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert FILENAME.match(download.suggested_filename), download.suggested_filename
    content = Path(download.path()).read_bytes()
    assert content.endswith(b"\r\n")
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def listed_ids(client: httpx.Client, **params) -> list[int]:
    response = client.get("/api/incidents/", params={**params, "limit": 100})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_export_downloads_the_filtered_sorted_view(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    create_incident(title="=HYPERLINK(evil)", service="payments", severity="SEV1")
    create_incident(title="Checkout, slow", service="payments", severity="SEV1", status="MITIGATED")
    create_incident(title="Another page", service="payments", severity="SEV1")
    create_incident(title="Not this severity", service="payments", severity="SEV2")
    create_incident(title="Not this search", service="search", severity="SEV1")
    exports: list[Request] = []
    page.on("request", lambda request: exports.append(request) if "/api/incidents/export" in request.url else None)

    # Page 2 (past the end): the export has every page of the view, in its order.
    page.goto("/index.html?search=pay&severity=SEV1&sort_by=title&sort_order=asc&page=2&limit=10")
    expect(page.locator("#summary")).to_contain_text("of 3")
    rows = download_rows(page)

    assert rows[0] == [
        "id", "title", "service", "severity", "status", "description", "created_at", "updated_at", "mitigated_at",
        "resolved_at", "created_by", "updated_by", "commander",
    ]  # fmt: skip
    expected = listed_ids(api_as("viewer"), search="pay", severity="SEV1", sort_by="title", sort_order="asc")
    assert [int(row[0]) for row in rows[1:]] == expected
    assert [row[1] for row in rows[1:]] == ["'=HYPERLINK(evil)", "Another page", "Checkout, slow"]
    assert {row[10] for row in rows[1:]} == {"Rory Responder"}
    # Fetched with a single-use ticket, not with the access token.
    (request,) = exports
    assert "ticket=" in request.url
    assert "authorization" not in {name.lower() for name in request.headers}
    assert "page=2" in page.url  # the page stayed where it was
    expect(page.locator("#export-message")).to_be_empty()


@pytest.mark.role("admin")
def test_the_archived_view_exports_the_archived_incidents(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    create_incident(title="Still live")
    gone = create_incident(title="Archived one")
    assert api_as("admin").delete(f"/api/incidents/{gone['id']}").status_code == 200

    page.goto("/index.html?archived=true")
    expect(page.locator("#rows tr")).to_have_count(1)
    rows = download_rows(page)

    assert rows[0][-1] == "archived_at"
    assert [(int(row[0]), row[1]) for row in rows[1:]] == [(gone["id"], "Archived one")]


@pytest.mark.role("viewer")
def test_a_viewer_may_export_too(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Seen by a viewer")

    page.goto("/index.html")
    expect(page.locator("#rows tr")).to_have_count(1)

    assert [int(row[0]) for row in download_rows(page)[1:]] == [incident["id"]]


def test_a_refused_export_shows_the_problem(page: Page, create_incident: CreateIncident) -> None:
    create_incident()
    problem = {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "You may not export this."}

    def refuse(route: Route) -> None:
        route.fulfill(
            status=403,
            headers={"Access-Control-Allow-Origin": "*"},
            content_type="application/problem+json",
            body=json.dumps(problem),
        )

    page.route("**/api/download-tickets", refuse)
    page.goto("/index.html")
    expect(page.locator("#rows tr")).to_have_count(1)
    page.get_by_role("button", name="Export CSV").click()

    alert = page.locator("#export-message").get_by_role("alert")
    expect(alert).to_contain_text("Could not export")
    expect(alert).to_contain_text("You may not export this.")
    expect(page.get_by_role("button", name="Export CSV")).to_be_enabled()
    expect(page.locator("#rows tr")).to_have_count(1)  # the list stays
