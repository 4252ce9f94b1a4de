"""One incident (detail.html): every field, editing (the form opened on demand) with a PATCH of only the changed
fields, not found."""

import re

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import ApiAs, CreateIncident, DeadApi
from tests.e2e.helpers import UNREACHABLE, exact_time, js_iso, open_edit_form, plain_spaces

pytestmark = pytest.mark.e2e


def field(page: Page, name: str):
    return page.locator(f'dd[data-field="{name}"]')


def heading_badge(page: Page, name: str):
    return page.locator(f'[data-field="{name}-heading"] .badge')


def patches(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if request.method == "PATCH" else None)
    return seen


def test_every_field_is_shown(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(
        title="Cache stampede", service="cdn", severity="SEV1", status="RESOLVED", description="Line 1\nLine 2"
    )
    page.goto(f"/detail.html?id={incident['id']}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Cache stampede")
    expect(page.locator("#loading")).to_be_hidden()
    expect(page).to_have_title(f"#{incident['id']} Cache stampede · Incident Tracker")
    expect(page.locator('[data-field="id-heading"]')).to_have_text(f"#{incident['id']}")
    expect(field(page, "service")).to_have_text("cdn")
    expect(heading_badge(page, "severity").locator(".severity-code")).to_have_text("SEV1")
    expect(heading_badge(page, "severity")).to_have_class(re.compile(r"\btext-bg-danger\b"))
    expect(heading_badge(page, "status")).to_have_text("Resolved")
    expect(page.locator('#incident dd span[data-field="commander"]')).to_have_text("No commander")
    assert field(page, "description").inner_text() == "Line 1\nLine 2"  # line breaks kept
    for name in ("created_at", "updated_at", "mitigated_at", "resolved_at"):  # RESOLVED stamps both
        time = field(page, name).locator("time")
        expect(time).to_have_attribute("datetime", js_iso(incident[name]))
        assert plain_spaces(time.text_content()) == f"{exact_time(incident[name])} (just now)"

    expect(page.locator("#incident-form")).to_be_hidden()  # until asked for
    open_edit_form(page)
    expect(page.get_by_label("Title")).to_have_value("Cache stampede")
    expect(page.get_by_label("Service")).to_have_value("cdn")
    expect(page.get_by_label("Severity")).to_have_value("SEV1")
    expect(page.get_by_label("Status")).to_have_value("RESOLVED")
    expect(page.get_by_label("Description")).to_have_value("Line 1\nLine 2")


def test_open_incident_has_no_lifecycle_times_yet(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Fresh", severity="SEV4")
    page.goto(f"/detail.html?id={incident['id']}")

    expect(field(page, "mitigated_at")).to_have_text("Not yet")
    expect(field(page, "resolved_at")).to_have_text("Not yet")
    expect(field(page, "description")).to_have_text("No description")
    back = page.get_by_role("link", name="Back to incidents").first
    expect(back).to_have_attribute("href", re.compile(r"^index\.html"))


def test_save_patches_only_the_changed_fields(
    page: Page, create_incident: CreateIncident, api_client: httpx.Client
) -> None:
    incident = create_incident(title="Queue backlog", service="workers", severity="SEV3", description="Growing")
    page.goto(f"/detail.html?id={incident['id']}")
    open_edit_form(page)
    expect(page.get_by_label("Title")).to_have_value("Queue backlog")

    page.get_by_label("Title").fill("Queue backlog growing")
    page.get_by_label("Status").select_option("MITIGATED")
    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        page.get_by_role("button", name="Save").click()

    request = request_info.value
    assert request.url.endswith(f"/api/incidents/{incident['id']}")
    assert request.post_data_json == {"title": "Queue backlog growing", "status": "MITIGATED"}
    expect(page.locator("#form-messages .alert-success")).to_have_text("Saved")
    expect(page.get_by_role("heading", level=1)).to_have_text("Queue backlog growing")
    expect(heading_badge(page, "status")).to_have_text("Mitigated")
    stored = api_client.get(f"/api/incidents/{incident['id']}").json()
    assert (stored["title"], stored["status"], stored["service"]) == ("Queue backlog growing", "MITIGATED", "workers")
    expect(field(page, "mitigated_at").locator("time")).to_have_attribute("datetime", js_iso(stored["mitigated_at"]))
    expect(field(page, "resolved_at")).to_have_text("Not yet")

    # Clearing the description sends null for it alone.
    page.get_by_label("Description").fill("")
    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        page.get_by_role("button", name="Save").click()
    assert request_info.value.post_data_json == {"description": None}
    expect(field(page, "description")).to_have_text("No description")


def test_nothing_changed_sends_no_request(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Steady", service="api")
    sent = patches(page)
    page.goto(f"/detail.html?id={incident['id']}")
    open_edit_form(page)
    expect(page.get_by_label("Title")).to_have_value("Steady")

    page.get_by_role("button", name="Save").click()
    expect(page.locator("#form-messages")).to_have_text("No changes to save")

    page.get_by_label("Title").fill("Steady  ")  # only spaces added: the API would strip them
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#form-messages")).to_have_text("No changes to save")

    page.wait_for_timeout(300)
    assert sent == []


def test_server_validation_error_on_save(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Short", service="api")
    page.goto(f"/detail.html?id={incident['id']}")
    open_edit_form(page)
    expect(page.get_by_label("Service")).to_have_value("api")

    page.get_by_label("Service").fill("api\u0007")  # a control character: only the API checks those
    with page.expect_response(lambda response: response.request.method == "PATCH") as response_info:
        page.get_by_role("button", name="Save").click()

    response = response_info.value
    assert response.status == 422
    problem = response.json()
    [service_error] = [error for error in problem["errors"] if error["loc"] == ["body", "service"]]
    expect(page.get_by_label("Service")).to_have_class(re.compile(r"\bis-invalid\b"))
    assert service_error["type"] == "string_control_character"
    expect(page.locator("#service-feedback")).to_have_text(
        "Service contains an invisible or control character. Remove it (retyping the text helps)."
    )
    expect(page.locator("#service-feedback")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Check the marked field.")
    expect(field(page, "service")).to_have_text("api")  # the page still shows what is stored


def test_cancel_drops_the_changes(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Original", service="api", severity="SEV2")
    page.goto(f"/detail.html?id={incident['id']}")
    open_edit_form(page)
    page.get_by_label("Title").fill("Changed")
    page.get_by_label("Severity").select_option("SEV4")

    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#incident-form")).to_be_hidden()
    open_edit_form(page)
    expect(page.get_by_label("Title")).to_have_value("Original")
    expect(page.get_by_label("Severity")).to_have_value("SEV2")


@pytest.mark.parametrize("query", ["?id=999999", "?id=abc", "?id=0", ""])
def test_unknown_or_invalid_id_is_not_found(page: Page, query: str) -> None:
    page.goto(f"/detail.html{query}")

    expect(page.get_by_role("heading", name="Incident not found")).to_be_visible()
    expect(page.locator("#incident")).to_be_hidden()
    expect(page).to_have_title("Incident not found · Incident Tracker")
    expect(page.locator("#not-found").get_by_role("link", name="Back to incidents")).to_be_visible()


def test_api_down_on_the_detail_page(page: Page, dead_api: DeadApi) -> None:
    page.goto(f"{dead_api.web_url}/detail.html?id=1")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Could not load the incident")
    expect(alert).to_contain_text(UNREACHABLE)
    expect(alert).not_to_contain_text(dead_api.api_url)
    expect(alert.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("heading", name="Incident not found")).to_be_hidden()


@pytest.mark.role("admin")
def test_an_archive_against_a_changed_incident_asks_to_look_again(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Old outage", service="legacy")
    # No live feed on this page (it never connects), so it cannot know about the change below.
    page.route_web_socket(re.compile(r"/api/live$"), lambda ws: None)
    deletes: list[Request] = []
    page.on("request", lambda request: deletes.append(request) if request.method == "DELETE" else None)
    page.goto(f"/detail.html?id={incident['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Old outage")
    changed = api_as("responder").patch(f"/api/incidents/{incident['id']}", json={"status": "RESOLVED"})
    assert changed.status_code == 200, changed.text

    page.get_by_role("button", name="Archive", exact=True).click()
    modal = page.locator("#archive-modal")
    modal.get_by_role("button", name="Archive incident").click()
    expect(modal.locator("#archive-messages .alert-warning")).to_have_text(
        "Someone changed the incident in the meantime. Check it, then archive again if you still want to."
    )
    expect(heading_badge(page, "status")).to_have_text("Resolved")  # the change is shown
    assert deletes[0].headers["if-match"] == f'"{incident["version"]}"'

    modal.get_by_role("button", name="Archive incident").click()  # looked, and still wants it
    expect(modal).to_be_hidden()
    expect(page.locator("#archived-banner")).to_be_visible()
    assert deletes[1].headers["if-match"] == f'"{changed.json()["version"]}"'
