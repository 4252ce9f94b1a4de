"""audit.html, as an admin uses it: the audit log newest first, narrowed by person, incident, action and time range
(all in the address), paged, each event linking to its incident (an archived one too), and "Export CSV" downloading
exactly the filtered events through a download ticket; refused to everyone but admins; no sideways scrolling."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from playwright.sync_api import Page, Request, expect

from app.models import IncidentEvent
from tests.e2e.conftest import ApiAs, CreateIncident
from tests.e2e.helpers import exact_time, plain_spaces, sign_in_through_page

pytestmark = [pytest.mark.e2e, pytest.mark.role("admin")]

FILENAME = re.compile(r"^audit-\d{8}T\d{6}Z\.csv$")
EVENTS = IncidentEvent.__table__
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def audit_ids(client: httpx.Client, **params) -> list[int]:
    response = client.get("/api/audit", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def shown_ids(page: Page) -> list[int]:
    return [int(value) for value in page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.eventId)")]


def api_requests(page: Page, path: str) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if path in request.url else None)
    return seen


def set_times(engine: sqlalchemy.Engine, times: dict[int, datetime]) -> None:
    """Give events known times (the API records now), so that a time range picks known rows."""
    with engine.begin() as connection:
        for event_id, when in times.items():
            connection.execute(sqlalchemy.update(EVENTS).where(EVENTS.c.id == event_id).values(created_at=when))


@pytest.fixture
def history(create_incident: CreateIncident, api_as: ApiAs, e2e_engine: sqlalchemy.Engine) -> dict[str, int]:
    """Two incidents with a known history, an hour apart per event from T0:
    0 Rory creates A (SEV3), 1 Ada creates B, 2 Rory sets A to SEV1, 3 Rory adds a note to A, 4 Ada adds a note
    to B, 5 Ada archives B."""
    a = create_incident(title="Checkout slow", service="payments")
    b = create_incident(as_role="admin", title="Search down", service="search")
    patched = api_as("responder").patch(
        f"/api/incidents/{a['id']}", json={"severity": "SEV1"}, headers={"If-Match": f'"{a["version"]}"'}
    )
    assert patched.status_code == 200, patched.text
    for role, incident, text in (("responder", a, "Rolled back"), ("admin", b, "<b>Index</b> rebuilt")):
        noted = api_as(role).post(f"/api/incidents/{incident['id']}/notes", json={"text": text})
        assert noted.status_code == 201, noted.text
    assert api_as("admin").delete(f"/api/incidents/{b['id']}").status_code == 200
    ids = sorted(audit_ids(api_as("admin")))
    assert len(ids) == 6
    set_times(e2e_engine, {event_id: T0 + timedelta(hours=n) for n, event_id in enumerate(ids)})
    return {"a": a["id"], "b": b["id"], **{f"e{n}": event_id for n, event_id in enumerate(ids)}}


def user_id(client: httpx.Client, email: str) -> int:
    (user,) = [u for u in client.get("/api/users", params={"limit": 100}).json()["items"] if u["email"] == email]
    return user["id"]


@pytest.mark.role("viewer")
def test_a_viewer_is_told_the_page_is_for_admins_and_nothing_is_read(page: Page) -> None:
    asked = api_requests(page, "/api/audit")
    users = api_requests(page, "/api/users")
    page.goto("/audit.html")

    refusal = page.locator("#not-allowed")
    expect(refusal).to_be_visible()
    expect(refusal.get_by_role("heading")).to_have_text("This page is for admins")
    expect(refusal).to_contain_text("Only admins read the audit log; your role is viewer.")
    expect(page.locator("#filters")).to_be_hidden()
    expect(page.locator("#audit-card")).to_be_hidden()
    expect(page.get_by_role("button", name="Export CSV")).to_be_hidden()
    assert asked == [] and users == []


def test_every_event_newest_first_with_who_what_and_the_change(
    page: Page, history: dict[str, int], api_client: httpx.Client
) -> None:
    page.goto("/audit.html")
    expect(page.locator("#summary")).to_have_text("Showing 1-6 of 6 events")
    assert shown_ids(page) == [history[f"e{n}"] for n in (5, 4, 3, 2, 1, 0)]
    rows = page.locator("#rows tr")
    expect(rows.locator(".event-who")).to_have_text(
        ["Ada Admin", "Ada Admin", "Rory Responder", "Rory Responder", "Ada Admin", "Rory Responder"]
    )
    expect(rows.locator(".event-action")).to_have_text(
        [
            "Archived the incident",
            "Added a note",
            "Added a note",
            "Updated the incident",
            "Created the incident",
            "Created the incident",
        ]
    )
    expect(rows.locator(".event-incident")).to_have_text([f"#{history[k]}" for k in "bbaaba"])
    updated = rows.nth(3).locator(".event-change")
    expect(updated).to_have_text("Severity: SEV3 → SEV1")
    expect(updated.locator(".change-old")).to_have_text("SEV3")
    expect(rows.nth(1).locator(".event-change")).to_have_text("<b>Index</b> rebuilt")  # text, not markup
    expect(rows.nth(5).locator(".event-change .change")).to_have_text(
        ["Title: Checkout slow", "Service: payments", "Severity: SEV3", "Status: Open"]
    )
    when = rows.nth(0).locator(".event-when time")
    expect(when).to_have_text(re.compile(r" ago$"))
    stored = api_client.get("/api/audit", params={"limit": 1}).json()["items"][0]["created_at"]
    assert plain_spaces(when.get_attribute("title")) == exact_time(stored)


def test_the_filters_narrow_the_rows_and_live_in_the_address(
    page: Page, history: dict[str, int], api_client: httpx.Client
) -> None:
    rory = user_id(api_client, "responder@example.com")
    page.goto("/audit.html")
    expect(page.locator("#rows tr")).to_have_count(6)

    page.get_by_label("Person").select_option(label="Rory Responder (responder@example.com)")
    expect(page).to_have_url(re.compile(rf"/audit\.html\?actor_id={rory}$"))
    expect(page.locator("#rows tr")).to_have_count(3)
    assert shown_ids(page) == [history["e3"], history["e2"], history["e0"]]

    page.get_by_label("Note added").check()
    expect(page).to_have_url(re.compile(rf"\?actor_id={rory}&action=note_added$"))
    expect(page.locator("#rows tr")).to_have_count(1)
    assert shown_ids(page) == [history["e3"]]

    page.get_by_label("Updated").check()  # actions add up
    expect(page.locator("#rows tr")).to_have_count(2)
    assert shown_ids(page) == [history["e3"], history["e2"]]

    page.get_by_role("button", name="Clear filters").click()
    expect(page).to_have_url(re.compile(r"/audit\.html$"))
    expect(page.locator("#rows tr")).to_have_count(6)

    page.get_by_label("Incident ID").fill(str(history["b"]))
    page.get_by_label("Incident ID").press("Enter")
    expect(page.locator("#rows tr")).to_have_count(3)
    assert shown_ids(page) == [history["e5"], history["e4"], history["e1"]]

    # A time range: from 10:00 (included) until 13:00 (not included).
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#rows tr")).to_have_count(6)
    page.get_by_label("From").fill("2026-01-05T10:00")
    page.get_by_label("Until").fill("2026-01-05T13:00")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"\?since=2026-01-05T10%3A00%3A00Z&until=2026-01-05T13%3A00%3A00Z$"))
    expect(page.locator("#rows tr")).to_have_count(3)
    assert shown_ids(page) == [history["e3"], history["e2"], history["e1"]]
    assert shown_ids(page) == audit_ids(api_client, since="2026-01-05T10:00:00Z", until="2026-01-05T13:00:00Z")

    page.get_by_label("Until").fill("2026-01-05T09:00")  # before "From": refused on the field
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#until-feedback")).to_have_text("Pick a time after “From”.")
    expect(page.locator("#rows tr")).to_have_count(3)

    # The address alone brings the whole view back (Back, a shared link).
    page.goto(f"/audit.html?actor_id={rory}&action=updated&action=created&since=2026-01-05T09:30:00Z")
    expect(page.get_by_label("Person")).to_have_value(str(rory))
    expect(page.get_by_label("Updated")).to_be_checked()
    expect(page.get_by_label("Created")).to_be_checked()
    expect(page.get_by_label("From")).to_have_value("2026-01-05T09:30")
    expect(page.locator("#rows tr")).to_have_count(1)
    assert shown_ids(page) == [history["e2"]]


def test_the_log_is_paged(page: Page, create_incident: CreateIncident, api_client: httpx.Client) -> None:
    for n in range(12):
        create_incident(title=f"Incident {n}")
    expected = audit_ids(api_client)
    assert len(expected) == 12

    page.goto("/audit.html")
    expect(page.locator("#rows tr")).to_have_count(12)
    page.get_by_label("Rows per page").select_option("10")
    expect(page).to_have_url(re.compile(r"/audit\.html\?limit=10$"))
    expect(page.locator("#summary")).to_have_text("Showing 1-10 of 12 events")
    assert shown_ids(page) == expected[:10]

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"\?page=2&limit=10$"))
    expect(page.locator("#summary")).to_have_text("Showing 11-12 of 12 events")
    assert shown_ids(page) == expected[10:]
    expect(page.locator("#page-heading")).to_be_focused()

    page.go_back()
    expect(page.locator("#summary")).to_have_text("Showing 1-10 of 12 events")


def test_an_event_links_to_its_incident_an_archived_one_too(page: Page, history: dict[str, int]) -> None:
    page.goto(f"/audit.html?incident_id={history['a']}&action=created")
    page.locator("#rows").get_by_role("link", name=f"#{history['a']}").click()
    expect(page).to_have_url(re.compile(rf"/detail\.html\?id={history['a']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout slow")

    page.goto(f"/audit.html?incident_id={history['b']}&action=archived")
    page.locator("#rows").get_by_role("link", name=f"#{history['b']}").click()
    expect(page).to_have_url(re.compile(rf"/detail\.html\?id={history['b']}&archived=1$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Search down")
    expect(page.locator("#archived-banner")).to_be_visible()


def test_export_downloads_exactly_the_filtered_events(
    page: Page, history: dict[str, int], api_client: httpx.Client
) -> None:
    exports = api_requests(page, "/api/audit/export")
    page.goto("/audit.html?action=note_added&action=archived&limit=10")
    expect(page.locator("#rows tr")).to_have_count(3)

    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert FILENAME.match(download.suggested_filename), download.suggested_filename
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_bytes().decode("utf-8"), newline="")))

    assert rows[0] == [
        "id", "created_at", "action", "incident_id", "actor_id", "actor", "changes", "note", "details", "request_id",
    ]  # fmt: skip
    assert [int(row[0]) for row in rows[1:]] == [history["e5"], history["e4"], history["e3"]]
    assert [row[2] for row in rows[1:]] == ["archived", "note_added", "note_added"]
    assert [row[7] for row in rows[1:]] == ["", "<b>Index</b> rebuilt", "Rolled back"]
    # Fetched with a single-use ticket, not with the access token; the page stays as it was.
    (request,) = exports
    assert "ticket=" in request.url
    assert "authorization" not in {name.lower() for name in request.headers}
    expect(page.locator("#export-message")).to_be_empty()
    assert page.url.endswith("/audit.html?action=note_added&action=archived&limit=10")

    # The export itself is in the log now (written once the download ended), as what it exported.
    for _ in range(50):
        logged = api_client.get("/api/audit", params={"action": "exported"}).json()["items"]
        if logged:
            break
        page.wait_for_timeout(100)
    assert [item["details"]["rows"] for item in logged] == [3]
    page.goto("/audit.html")
    page.get_by_label("Exported CSV").check()
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#rows .event-action")).to_have_text("Exported a CSV file")
    expect(page.locator("#rows .event-change")).to_contain_text("3 rows of the audit log")
    expect(page.locator("#rows .event-change")).to_contain_text("Filters: Action: Archived, Note added")
    expect(page.locator("#rows .event-incident")).to_have_text("—")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_on_a_phone_nothing_scrolls_sideways(page: Page, theme: str, history: dict[str, int]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/login.html")
    page.evaluate("theme => localStorage.setItem('incident-tracker:theme', theme)", theme)
    page.goto("/audit.html?action=created&action=updated")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
    expect(page.locator("#rows tr")).to_have_count(3)

    # The filters fold away behind a button that says how many are on.
    toggle = page.get_by_role("button", name="Filters, 2 on")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#filters")).to_be_hidden()
    assert page.locator("#rows tr").first.bounding_box()["y"] < 300
    toggle.click()
    expect(page.locator("#filters")).to_be_visible()
    expect(page.get_by_label("Person")).to_be_focused()
    page.get_by_label("Note added").check()
    expect(page.locator("#rows tr")).to_have_count(5)
    expect(page.get_by_role("button", name="Filters, 3 on")).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") == 390
    box = page.locator("#rows tr").nth(1).locator(".event-change").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


@pytest.mark.role(None)
def test_signing_in_comes_back_to_the_same_view(page: Page, accounts: dict) -> None:
    page.goto("/audit.html?action=created&limit=10")
    expect(page).to_have_url(re.compile(r"/login\.html\?next="))
    sign_in_through_page(page, accounts["admin"].email, accounts["admin"].password)
    expect(page).to_have_url(re.compile(r"/audit\.html\?action=created&limit=10$"))
    expect(page.get_by_label("Created")).to_be_checked()


def test_the_address_is_read_strictly(page: Page) -> None:
    """What the address holds that the API would refuse is left out, so the page never asks for a broken view."""
    page.goto("/login.html")
    result = page.evaluate(
        """async () => {
            const s = await import("/js/audit-state.js");
            const read = (q) => s.readState(q);
            return {
                good: read("?actor_id=3&incident_id=42&action=updated&action=created&action=nope"
                           + "&since=2026-01-05T10:00:00%2B01:00&until=2026-01-05T13:00:00Z&page=2&limit=10"),
                bad: read("?actor_id=x&incident_id=0&since=yesterday&until=2026-01-05&page=-1&limit=7"),
                query: s.stateQuery(read("?action=archived&action=created&page=1&limit=50")),
                api: s.apiQuery(read("?incident_id=7")),
            };
        }"""
    )
    assert result["good"] == {
        "actor_id": "3",
        "incident_id": "42",
        "action": ["created", "updated"],
        "since": "2026-01-05T09:00:00Z",
        "until": "2026-01-05T13:00:00Z",
        "page": 2,
        "limit": 10,
    }
    assert result["bad"] == {
        "actor_id": "", "incident_id": "", "action": [], "since": "", "until": "", "page": 1, "limit": 50,
    }  # fmt: skip
    assert result["query"] == "?action=created&action=archived"
    assert result["api"] == {"page": 1, "limit": 50, "action": [], "incident_id": "7"}
