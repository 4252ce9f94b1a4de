"""The detail page's timeline: every page of events, oldest first; values and people written readably; notes."""

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy
from playwright.sync_api import Page, Request, Route, expect

from app.models import IncidentEvent
from tests.e2e.conftest import ApiAs, CreateIncident
from tests.e2e.helpers import exact_time, js_iso, plain_spaces, timeline

pytestmark = pytest.mark.e2e


def note_posts(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if request.url.endswith("/notes") else None)
    return seen


def test_the_whole_timeline_oldest_first(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    incident = create_incident(title="Long running")
    responder = api_as("responder")
    for number in range(1, 121):  # 121 events: two pages of the API's largest size
        assert responder.post(f"/api/incidents/{incident['id']}/notes", json={"text": f"Note {number}"}).is_success

    with page.expect_response(re.compile(r"/events\?page=2&")) as second_page:
        page.goto(f"/detail.html?id={incident['id']}")

    assert second_page.value.ok
    expect(timeline(page)).to_have_count(121)
    expect(page.locator("#event-count")).to_have_text("121 events")
    expect(timeline(page).first).to_have_attribute("data-action", "created")
    expect(timeline(page).nth(1).locator(".event-note")).to_have_text("Note 1")
    expect(timeline(page).last.locator(".event-note")).to_have_text("Note 120")


def test_who_and_when(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    incident = create_incident(title="Timing", as_role="admin")
    [event] = api_as("admin").get(f"/api/incidents/{incident['id']}/events").json()["items"]
    page.goto(f"/detail.html?id={incident['id']}")

    created = timeline(page).first
    expect(created.locator(".event-actor")).to_have_text("Ada Admin")
    when = created.locator(".event-time time")
    expect(when).to_have_text("just now")  # relative...
    expect(when).to_have_attribute("datetime", js_iso(event["created_at"]))
    assert plain_spaces(when.get_attribute("title")) == exact_time(event["created_at"])  # ...exact on hover


def test_changes_nobody_made_and_empty_values(
    page: Page, create_incident: CreateIncident, e2e_engine: sqlalchemy.Engine
) -> None:
    """Seeded history has no actor ("System"); nulls (a lifecycle stamp not set yet, a cleared description) read
    as a dash, stamps as exact times."""
    incident = create_incident(title="Seeded", description="Was here")
    resolved_at = datetime(2026, 11, 27, 15, 5, 55, tzinfo=UTC)
    with e2e_engine.begin() as connection:
        connection.execute(
            sqlalchemy.insert(IncidentEvent.__table__).values(
                incident_id=incident["id"],
                actor_id=None,
                action="updated",
                changes={
                    "status": {"old": "OPEN", "new": "RESOLVED"},
                    "resolved_at": {"old": None, "new": resolved_at.isoformat()},
                    "description": {"old": "Was here", "new": None},
                },
                created_at=resolved_at,
            )
        )
    page.goto(f"/detail.html?id={incident['id']}")

    expect(timeline(page)).to_have_count(2)
    seeded = timeline(page).last
    expect(seeded.locator(".event-actor")).to_have_text("System")
    expect(seeded.locator(".change")).to_have_count(3)
    expect(seeded.locator(".change").nth(0)).to_have_text("Status: Open → Resolved")
    expect(seeded.locator(".change").nth(1)).to_have_text("Description: Was here → —")
    assert plain_spaces(seeded.locator(".change").nth(2).text_content()) == "Resolved: — → Nov 27, 2026, 3:05:55 PM UTC"


def test_blank_note_is_not_sent_and_a_server_error_lands_on_the_field(
    page: Page, create_incident: CreateIncident
) -> None:
    incident = create_incident(title="Notes")
    sent = note_posts(page)
    page.goto(f"/detail.html?id={incident['id']}")
    note = page.get_by_label("Note")

    note.fill("   \n  ")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-feedback")).to_be_visible()
    expect(note).to_be_focused()
    page.wait_for_timeout(300)
    assert sent == []

    note.fill("Bell\u0007 in a note")  # a control character: only the API checks those
    with page.expect_response(lambda response: response.url.endswith("/notes")) as response_info:
        page.get_by_role("button", name="Add note").click()

    response = response_info.value
    assert response.status == 422
    [text_error] = [error for error in response.json()["errors"] if error["loc"] == ["body", "text"]]
    expect(note).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(note).to_have_attribute("aria-invalid", "true")
    assert text_error["type"] == "string_control_character"
    expect(page.locator("#note-feedback")).to_have_text(
        "Note contains an invisible or control character. Remove it (retyping the text helps)."
    )
    expect(page.locator("#note-messages").get_by_role("alert")).to_contain_text("The note was not added")
    expect(timeline(page)).to_have_count(1)

    note.fill("Fine now")  # editing clears the server's mark
    expect(note).not_to_have_class(re.compile(r"\bis-invalid\b"))
    page.get_by_role("button", name="Add note").click()
    expect(timeline(page)).to_have_count(2)
    expect(timeline(page).last.locator(".event-note")).to_have_text("Fine now")


def test_timeline_error_offers_a_retry(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Flaky")
    failures = []

    def fail_once(route) -> None:
        if not failures:
            failures.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/events?*", fail_once)
    page.goto(f"/detail.html?id={incident['id']}")

    alert = page.locator("#timeline-messages").get_by_role("alert")
    expect(alert).to_contain_text("Could not load the timeline")
    expect(page.get_by_role("heading", level=1)).to_have_text("Flaky")  # the rest of the page is fine
    alert.get_by_role("button", name="Retry").click()
    expect(timeline(page)).to_have_count(1)
    expect(page.locator("#timeline-messages")).to_be_empty()


def test_a_note_sent_again_is_added_once(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    incident = create_incident(title="Retried note")
    sent = note_posts(page)

    def lose_the_first_answer(route: Route) -> None:
        if len(sent) == 1:
            route.fetch()  # the API adds the note...
            route.abort("connectionreset")  # ...and the answer never arrives
        else:
            route.continue_()

    page.route(re.compile(r"/notes$"), lose_the_first_answer)
    page.goto(f"/detail.html?id={incident['id']}")
    page.get_by_label("Note").fill("Restarted the workers")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-messages .alert-danger")).to_contain_text("Cannot reach the Incident Tracker server")

    page.get_by_role("button", name="Add note").click()  # the person tries again
    expect(page.get_by_label("Note")).to_have_value("")
    keys = [request.headers.get("idempotency-key") for request in sent]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    stored = api_as("responder").get(f"/api/incidents/{incident['id']}/events").json()["items"]
    assert [event["note"] for event in stored if event["action"] == "note_added"] == ["Restarted the workers"]
    expect(timeline(page)).to_have_count(2)
