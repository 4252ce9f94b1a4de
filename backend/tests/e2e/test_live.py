"""The pages, live: two people signed in in two browser contexts. One edits; the other's list and detail follow
without a reload; a stale save shows the merge prompt."""

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, WebSocketRoute, expect

from tests.e2e.conftest import ApiAs, ContextAs, CreateIncident

pytestmark = pytest.mark.e2e

LIVE_URL = re.compile(r"/api/live$")


def open_page(context_as: ContextAs, role: str, path: str) -> Page:
    page = context_as(role).new_page()
    page.set_default_timeout(10_000)
    page.goto(path)
    return page


def wait_live(page: Page) -> None:
    """The indicator says the connection is up (so a change made from now on reaches the page)."""
    expect(page.locator("#live-status")).to_have_text("Live")


def mark_page(page: Page) -> None:
    """A value that only survives while the page is not reloaded."""
    page.evaluate("window.notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.notReloaded === true")


def requests_to(page: Page, method: str, pattern: str) -> list[Request]:
    seen: list[Request] = []
    regex = re.compile(pattern)
    page.on(
        "request",
        lambda request: seen.append(request) if request.method == method and regex.search(request.url) else None,
    )
    return seen


def row(page: Page, incident_id: int):
    return page.locator(f'#rows tr.incident-row[data-id="{incident_id}"]')


def timeline(page: Page):
    return page.locator("#events > li.timeline-item")


# ---------------------------------------------------------------------------
# The list


def test_an_edit_by_another_person_updates_the_row_in_place(
    context_as: ContextAs, create_incident: CreateIncident
) -> None:
    disk = create_incident(title="Disk full", service="db", severity="SEV3")
    login = create_incident(title="Slow login", service="auth", severity="SEV2")
    reader = open_page(context_as, "responder", "/index.html")
    expect(reader.locator("#rows .incident-link")).to_have_text(["Slow login", "Disk full"])
    wait_live(reader)
    mark_page(reader)
    lists = requests_to(reader, "GET", r"/api/incidents/(\?|$)")

    editor = open_page(context_as, "admin", f"/detail.html?id={disk['id']}")
    expect(editor.get_by_label("Title")).to_have_value("Disk full")
    editor.get_by_label("Title").fill("Disk full on db-2")
    editor.get_by_label("Severity").select_option("SEV1")
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#form-messages .alert-success")).to_have_text("Saved")

    changed = row(reader, disk["id"])
    expect(changed.locator("td")).to_have_text(
        [
            f"#{disk['id']}",
            "Disk full on db-2",
            "Service: db",
            re.compile(r"^SEV1 Critical: "),
            "Open",
            "Commander: Unassigned",
            "open for < 1 min",
            "Updated just now",
        ]
    )
    expect(changed).to_have_class(re.compile(r"\brow-updated\b"))  # briefly highlighted
    expect(changed).not_to_have_class(re.compile(r"\brow-updated\b"), timeout=5_000)  # ...and only briefly
    expect(reader.locator("#rows .incident-link")).to_have_text(["Slow login", "Disk full on db-2"])  # in place
    expect(row(reader, login["id"]).locator(".incident-link")).to_have_text("Slow login")
    expect(reader.locator("#new-incidents")).to_be_hidden()
    assert lists == []  # nothing was read again: the message carried the incident
    assert not_reloaded(reader)


def test_new_matching_incidents_wait_behind_the_banner(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    create_incident(title="Checkout down", service="payments", severity="SEV1")
    reader = open_page(context_as, "responder", "/index.html?severity=SEV1&search=PAY")
    expect(reader.locator("#rows .incident-link")).to_have_text(["Checkout down"])
    wait_live(reader)
    mark_page(reader)
    banner = reader.locator("#new-incidents")

    editor = open_page(context_as, "admin", "/create.html")
    editor.get_by_label("Title").fill("Refunds failing")
    editor.get_by_label("Service").fill("payments-api")
    editor.get_by_label("Severity").select_option("SEV1")
    editor.get_by_role("button", name="Create", exact=True).click()
    expect(editor).to_have_url(re.compile(r"/detail\.html\?id=\d+$"))

    expect(banner).to_have_text("1 new incident, show")
    expect(reader.locator("#rows .incident-link")).to_have_text(["Checkout down"])  # nothing moved

    # Not matching the reader's filters: not counted.
    api_as("admin").post("/api/incidents/", json={"title": "Payments slow", "service": "payments", "severity": "SEV3"})
    api_as("admin").post("/api/incidents/", json={"title": "Search down", "service": "search", "severity": "SEV1"})
    also = api_as("admin").post(
        "/api/incidents/", json={"title": "Payouts late", "service": "Payments", "severity": "SEV1"}
    )
    assert also.status_code == 201, also.text
    expect(banner).to_have_text("2 new incidents, show")
    expect(reader.locator("#rows tr.incident-row")).to_have_count(1)

    banner.click()
    # The Active view: equal severities oldest first, so the new ones come after the one that was there.
    expect(reader.locator("#rows .incident-link")).to_have_text(["Checkout down", "Refunds failing", "Payouts late"])
    expect(banner).to_be_hidden()
    assert not_reloaded(reader)  # "show" reads the page again; the page itself stays


def test_an_archived_incident_fades_out_of_the_list(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    gone = create_incident(title="False alarm", service="edge")
    kept = create_incident(title="Real one", service="edge")
    reader = open_page(context_as, "responder", "/index.html")
    expect(reader.locator("#rows tr.incident-row")).to_have_count(2)
    wait_live(reader)

    assert api_as("admin").delete(f"/api/incidents/{gone['id']}").status_code == 200

    expect(row(reader, gone["id"])).to_have_count(0)
    expect(reader.locator("#rows .incident-link")).to_have_text(["Real one"])
    expect(row(reader, kept["id"])).to_be_visible()


def test_a_row_that_stops_matching_stays_marked_until_show(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Flapping", service="dns", status="OPEN")
    reader = open_page(context_as, "responder", "/index.html?status=OPEN")
    expect(reader.locator("#rows .incident-link")).to_have_text(["Flapping"])
    wait_live(reader)

    response = api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"status": "RESOLVED"})
    assert response.status_code == 200, response.text

    marked = row(reader, incident["id"])
    expect(marked.locator(".status-badge")).to_have_text("Resolved")
    expect(marked).to_have_class(re.compile(r"\brow-stale\b"))
    expect(marked.locator(".stale-mark")).to_have_text("No longer matches the filters")


# ---------------------------------------------------------------------------
# The detail page


def test_the_detail_page_shows_another_persons_change_at_once(
    context_as: ContextAs, create_incident: CreateIncident
) -> None:
    incident = create_incident(title="Packet loss", service="network", severity="SEV2")
    reader = open_page(context_as, "responder", f"/detail.html?id={incident['id']}")
    expect(timeline(reader)).to_have_count(1)
    wait_live(reader)
    mark_page(reader)

    editor = open_page(context_as, "admin", f"/detail.html?id={incident['id']}")
    editor.get_by_label("Status").select_option("MITIGATED")
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#form-messages .alert-success")).to_have_text("Saved")

    expect(reader.locator('dd[data-field="status"] .badge')).to_have_text("Mitigated")
    expect(reader.locator('[data-field="status-heading"] .badge')).to_have_text("Mitigated")
    expect(reader.get_by_label("Status")).to_have_value("MITIGATED")  # not being edited: it follows
    expect(reader.locator('dd[data-field="updated_by"]')).to_have_text("Ada Admin")
    expect(timeline(reader)).to_have_count(2)
    latest = timeline(reader).last
    expect(latest.locator(".event-summary")).to_contain_text("Ada Admin updated the incident")
    expect(latest.locator('.change[data-field="status"]')).to_have_text("Status: Open → Mitigated")

    editor.get_by_label("Note").fill("Rerouted through the second link")
    editor.get_by_role("button", name="Add note").click()
    expect(timeline(reader)).to_have_count(3)
    expect(timeline(reader).last.locator(".event-summary")).to_contain_text("Ada Admin added a note")
    expect(timeline(reader).last.locator(".event-note")).to_have_text("Rerouted through the second link")
    assert not_reloaded(reader)


def test_a_field_being_edited_is_left_alone_and_marked(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Queue backlog", service="workers")
    reader = open_page(context_as, "responder", f"/detail.html?id={incident['id']}")
    expect(reader.get_by_label("Title")).to_have_value("Queue backlog")
    wait_live(reader)
    reader.get_by_label("Title").fill("Queue backlog (reader)")

    response = api_as("admin").patch(
        f"/api/incidents/{incident['id']}", json={"title": "Queue backlog (admin)", "service": "workers-eu"}
    )
    assert response.status_code == 200, response.text

    expect(reader.get_by_role("heading", level=1)).to_have_text("Queue backlog (admin)")
    expect(reader.get_by_label("Service")).to_have_value("workers-eu")  # not edited: follows
    expect(reader.get_by_label("Title")).to_have_value("Queue backlog (reader)")  # edited: left alone
    mark = reader.locator('.changed-underneath[data-field-changed="title"]')
    expect(mark).to_have_text("Ada Admin changed this to “Queue backlog (admin)” while you were editing. Take theirs")
    expect(reader.locator('.changed-underneath[data-field-changed="service"]')).to_have_count(0)


def test_an_incident_archived_while_edited_keeps_what_was_typed(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Stale alert", service="monitoring")
    reader = open_page(context_as, "responder", f"/detail.html?id={incident['id']}")
    expect(reader.get_by_label("Title")).to_have_value("Stale alert")
    wait_live(reader)
    reader.get_by_label("Title").fill("Stale alert, half written")

    assert api_as("admin").delete(f"/api/incidents/{incident['id']}").status_code == 200

    expect(reader.locator("#page-messages .alert-warning")).to_have_text(
        "An admin archived this incident while you were reading it: it can no longer be changed. "
        "What you typed is still below, to copy."
    )
    expect(reader.get_by_label("Title")).to_have_value("Stale alert, half written")
    expect(reader.get_by_label("Title")).not_to_be_editable()
    expect(reader.get_by_role("button", name="Save", exact=True)).to_be_disabled()
    expect(reader.locator("#note-section")).to_be_hidden()  # nothing typed there


def test_a_stale_save_shows_the_merge_prompt_and_keeps_both_intents(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs, api_client: httpx.Client
) -> None:
    incident = create_incident(title="Login errors", service="auth", severity="SEV3", description="Seen in eu-1")
    reader = open_page(context_as, "responder", f"/detail.html?id={incident['id']}")
    expect(reader.get_by_label("Title")).to_have_value("Login errors")
    wait_live(reader)
    patches = requests_to(reader, "PATCH", r"/api/incidents/\d+$")
    answers: list[int] = []
    reader.on(
        "response", lambda response: answers.append(response.status) if response.request.method == "PATCH" else None
    )

    # The reader edits the title and the description, and has not saved yet...
    reader.get_by_label("Title").fill("Login errors after deploy")
    reader.get_by_label("Description").fill("Seen in eu-1 and us-2")

    # ...while the other person changes the title and the severity, and saves.
    editor = open_page(context_as, "admin", f"/detail.html?id={incident['id']}")
    editor.get_by_label("Title").fill("Login errors (SSO)")
    editor.get_by_label("Severity").select_option("SEV1")
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#form-messages .alert-success")).to_have_text("Saved")
    expect(reader.locator('.changed-underneath[data-field-changed="title"]')).to_be_visible()

    reader.get_by_role("button", name="Save", exact=True).click()
    prompt = reader.locator("#merge-prompt")
    expect(prompt).to_be_visible()
    expect(prompt.locator(".alert-heading")).to_have_text("Ada Admin saved changes while you were editing")
    expect(prompt.locator("fieldset legend")).to_have_text(["Title"])  # the one field both changed
    expect(prompt.locator(".merge-theirs")).to_have_text(["Login errors (SSO)"])
    expect(prompt.locator(".merge-mine")).to_have_text(["Login errors after deploy"])
    expect(reader.get_by_label("Severity")).to_have_value("SEV1")  # only they changed it: taken
    expect(reader.get_by_label("Description")).to_have_value("Seen in eu-1 and us-2")  # only the reader: kept
    expect(reader.get_by_label("Title")).to_have_value("Login errors after deploy")  # nothing typed is lost
    assert answers == [412]
    assert patches[0].headers["if-match"] == f'"{incident["version"]}"'

    # A second conflict: the other person saves the title again while the prompt is open.
    again = api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"title": "Login errors (SSO, EU)"})
    assert again.status_code == 200, again.text
    expect(reader.locator('.changed-underneath[data-field-changed="title"]')).to_be_visible()
    prompt.get_by_label("Keep mine").check()
    prompt.get_by_role("button", name="Save my choices").click()
    expect(prompt.locator(".merge-theirs")).to_have_text(["Login errors (SSO, EU)"])
    expect(prompt.locator(".merge-mine")).to_have_text(["Login errors after deploy"])
    expect(reader.get_by_label("Title")).to_have_value("Login errors after deploy")
    assert answers == [412, 412]

    prompt.get_by_label("Keep mine").check()
    prompt.get_by_role("button", name="Save my choices").click()
    expect(reader.locator("#form-messages .alert-success")).to_have_text("Saved")
    expect(prompt).to_be_hidden()
    assert answers == [412, 412, 200]
    assert all("if-match" in request.headers for request in patches)
    assert patches[-1].post_data_json == {"title": "Login errors after deploy", "description": "Seen in eu-1 and us-2"}

    stored = api_client.get(f"/api/incidents/{incident['id']}").json()
    assert (stored["title"], stored["severity"], stored["description"]) == (
        "Login errors after deploy",
        "SEV1",
        "Seen in eu-1 and us-2",
    )
    assert patches[-1].headers["if-match"] == f'"{stored["version"] - 1}"'


def test_taking_theirs_in_the_merge_prompt(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs, api_client: httpx.Client
) -> None:
    incident = create_incident(title="Cache misses", service="cdn", status="OPEN")
    reader = open_page(context_as, "responder", f"/detail.html?id={incident['id']}")
    expect(reader.get_by_label("Status")).to_have_value("OPEN")
    wait_live(reader)
    reader.get_by_label("Status").select_option("MITIGATED")
    reader.get_by_label("Service").fill("cdn-edge")

    response = api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"status": "RESOLVED"})
    assert response.status_code == 200, response.text
    expect(reader.locator('.changed-underneath[data-field-changed="status"]')).to_be_visible()

    reader.get_by_role("button", name="Save", exact=True).click()
    prompt = reader.locator("#merge-prompt")
    expect(prompt.locator(".merge-theirs")).to_have_text(["Resolved"])
    expect(prompt.locator(".merge-mine")).to_have_text(["Mitigated"])
    prompt.get_by_role("button", name="Save my choices").click()
    expect(prompt.locator(".merge-missing")).to_be_visible()  # a choice is needed
    prompt.get_by_label("Take theirs").check()
    expect(reader.get_by_label("Status")).to_have_value("RESOLVED")
    prompt.get_by_role("button", name="Save my choices").click()
    expect(reader.locator("#form-messages .alert-success")).to_have_text("Saved")

    stored = api_client.get(f"/api/incidents/{incident['id']}").json()
    assert (stored["status"], stored["service"]) == ("RESOLVED", "cdn-edge")


# ---------------------------------------------------------------------------
# The connection


def test_a_dropped_connection_reconnects_and_resumes_from_the_last_cursor(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Timeouts", service="gateway")
    connections: list[dict[str, Any]] = []

    def relay(ws: WebSocketRoute) -> None:
        seen: dict[str, Any] = {"route": ws, "sent": [], "received": []}
        connections.append(seen)
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            seen["sent"].append(json.loads(message))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            seen["received"].append(json.loads(message))
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(LIVE_URL, relay)
    page.goto("/index.html")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_attribute("aria-live", "polite")
    wait_live(page)
    first = connections[0]
    assert first["sent"][0]["type"] == "auth" and first["sent"][0]["after"] is None
    cursor = first["received"][-1]["cursor"]

    first["route"].close(code=1011, reason="gone")
    expect(status).to_have_text("Reconnecting…")
    # A change while the page is away: the next connection asks for what came after the last cursor.
    response = api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"title": "Timeouts at the edge"})
    assert response.status_code == 200, response.text

    wait_live(page)
    assert len(connections) == 2
    assert connections[1]["sent"][0]["after"] == cursor
    expect(row(page, incident["id"]).locator(".incident-link")).to_have_text("Timeouts at the edge")


def test_a_refused_token_on_the_live_feed_goes_to_sign_in(page: Page) -> None:
    page.route_web_socket(LIVE_URL, lambda ws: ws.on_message(lambda _message: ws.close(code=4401, reason="expired")))
    page.goto("/index.html?severity=SEV2")
    expect(page).to_have_url(re.compile(r"/login\.html\?next=%2Findex\.html%3Fseverity%3DSEV2$"))


def test_the_indicator_says_offline_after_failed_attempts(page: Page) -> None:
    page.route_web_socket(LIVE_URL, lambda ws: ws.close(code=1011, reason="down"))
    page.goto("/index.html")
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    expect(page.locator("#live-status")).to_have_text("Offline", timeout=20_000)
    expect(page.locator("#live-status")).to_have_attribute("title", re.compile("No live updates"))
