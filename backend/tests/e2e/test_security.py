"""API data is text: markup in titles, services and descriptions is shown literally and never runs."""

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.conftest import CreateIncident

pytestmark = pytest.mark.e2e

TITLE = "<img src=x onerror=alert(1)>"
SERVICE = '"><svg onload=alert(2)>'
DESCRIPTION = "<script>alert(3)</script> & 'quotes' \"too\""


def test_markup_in_incident_fields_shows_as_text(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title=TITLE, service=SERVICE, description=DESCRIPTION)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    page.goto("/index.html")
    expect(page.locator("#rows .incident-link")).to_have_text(TITLE)
    expect(page.locator("#rows td").nth(2)).to_have_text(SERVICE)
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
