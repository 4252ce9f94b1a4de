"""API data is text: markup in titles, services, descriptions, notes and people's names is shown literally and
never runs."""

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.conftest import ApiAs, CreateIncident, MakeAccount, sign_in
from tests.e2e.helpers import session_value, store_session, timeline

pytestmark = pytest.mark.e2e

TITLE = "<img src=x onerror=alert(1)>"
SERVICE = '"><svg onload=alert(2)>'
DESCRIPTION = "<script>alert(3)</script> & 'quotes' \"too\""
NAME = "<img src=x onerror=alert(4)>"
NOTE = "<img src=x onerror=alert(5)><b>bold?</b>"


def test_markup_in_incident_fields_shows_as_text(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title=TITLE, service=SERVICE, description=DESCRIPTION)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    page.goto("/index.html")
    expect(page.locator("#rows .incident-link")).to_have_text(TITLE)
    expect(page.locator("#rows .service-name")).to_have_text(SERVICE)
    expect(page.locator("#rows img, #rows svg, #rows script")).to_have_count(0)

    page.goto(f"/detail.html?id={incident['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page).to_have_title(f"#{incident['id']} {TITLE} · Incident Tracker")
    expect(page.locator('dd[data-field="service"]')).to_have_text(SERVICE)
    expect(page.locator('dd[data-field="description"]')).to_have_text(DESCRIPTION)
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    expect(page.locator("#incident img, #incident svg, #incident script")).to_have_count(0)

    page.wait_for_timeout(300)  # an injected handler would have fired by now
    assert dialogs == []


def test_markup_in_notes_and_display_names_shows_as_text(
    page: Page, api_url: str, make_account: MakeAccount, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    account = make_account(role="responder", display_name=NAME)
    token = sign_in(api_url, account)
    incident = create_incident(title="Named", token=token)
    response = api_as("responder").post(
        f"/api/incidents/{incident['id']}/notes", json={"text": NOTE}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    store_session(page, session_value(token))  # signed in as the account with the markup name

    page.goto(f"/detail.html?id={incident['id']}")
    expect(timeline(page)).to_have_count(2)
    expect(page.locator(".user-menu-name")).to_have_text(NAME)
    page.locator("#user-menu-button").click()
    expect(page.locator(".user-menu [data-user=name]")).to_have_text(NAME)
    expect(page.locator('dd[data-field="created_by"]')).to_have_text(NAME)
    expect(timeline(page).locator(".event-actor")).to_have_text([NAME, NAME])
    expect(timeline(page).last.locator(".event-note")).to_have_text(NOTE)
    expect(page.locator("#user-menu img, #incident img, #incident b")).to_have_count(0)

    page.wait_for_timeout(300)
    assert dialogs == []
