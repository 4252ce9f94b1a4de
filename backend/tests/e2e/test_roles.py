"""What each role is offered, walked through after signing in on login.html: a viewer reads only; a responder
creates, edits and adds notes; an admin also archives (with a confirmation) and restores."""

import re

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import Account, ApiAs, CreateIncident
from tests.e2e.helpers import exact_time, plain_spaces, sign_in_through_page, timeline

pytestmark = [pytest.mark.e2e, pytest.mark.role(None)]  # every test here signs in through the page


def sign_in_as(page: Page, account: Account, path: str, arrives_at: str | None = None) -> None:
    """Open `path` signed out, sign in on the page it sends us to, and be back on `path` (or on `arrives_at`,
    where the page itself rewrites its URL once loaded)."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login\.html\?next="))
    sign_in_through_page(page, account.email, account.password)
    expect(page).to_have_url(re.compile(re.escape(arrives_at or path) + "$"))


def requests_with(page: Page, method: str) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if request.method == method else None)
    return seen


def test_viewer_reads_but_is_offered_no_changes(
    page: Page, accounts: dict[str, Account], create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Read me", service="web", description="Details")
    api_as("responder").post(f"/api/incidents/{incident['id']}/notes", json={"text": "Looking into it"})

    sign_in_as(page, accounts["viewer"], "/index.html")
    expect(page.locator("#rows .incident-link")).to_have_text(["Read me"])
    expect(page.get_by_role("link", name="New incident")).to_be_hidden()
    expect(page.get_by_label("Show archived")).to_be_hidden()

    page.get_by_role("link", name="Read me").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Read me")
    expect(page.locator('dd[data-field="description"]')).to_have_text("Details")  # the details, read only
    expect(timeline(page)).to_have_count(2)
    expect(page.locator("#incident-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Save")).to_be_hidden()
    expect(page.locator("#note-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Add note")).to_be_hidden()
    expect(page.get_by_role("button", name="Archive")).to_be_hidden()
    expect(page.locator("#read-only-note")).to_contain_text("your role (viewer)")

    page.goto("/create.html")
    refusal = page.locator("#not-allowed")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("Your role (viewer) cannot create incidents")
    expect(page.locator("#incident-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Create", exact=True)).to_be_hidden()

    page.goto("/index.html?archived=true")  # not for viewers: the live list, no error
    expect(page).to_have_url(re.compile(r"/index\.html$"))
    expect(page.locator("#rows .incident-link")).to_have_text(["Read me"])
    expect(page.get_by_role("alert")).to_have_count(0)


def test_responder_creates_edits_and_adds_a_note(
    page: Page, accounts: dict[str, Account], create_incident: CreateIncident, api_client: httpx.Client
) -> None:
    incident = create_incident(title="Queue backlog", service="workers", severity="SEV3", as_role="admin")

    sign_in_as(page, accounts["responder"], "/index.html")
    expect(page.get_by_role("link", name="New incident")).to_be_visible()
    expect(page.get_by_label("Show archived")).to_be_hidden()
    page.get_by_role("link", name="Queue backlog").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Queue backlog")
    expect(page.locator('dd[data-field="created_by"]')).to_have_text("Ada Admin")
    expect(page.locator('dd[data-field="updated_by"]')).to_have_text("Ada Admin")
    expect(page.get_by_role("button", name="Archive")).to_be_hidden()
    expect(timeline(page)).to_have_count(1)
    created = timeline(page).first
    expect(created.locator(".event-summary")).to_contain_text("Ada Admin created the incident")
    expect(created.locator(".event-values dt")).to_have_text(["Title", "Service", "Severity", "Status"])
    expect(created.locator(".event-values dd")).to_have_text(["Queue backlog", "workers", "SEV3", "Open"])
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Title").fill("Queue backlog growing")
    page.get_by_label("Status").select_option("MITIGATED")
    page.get_by_role("button", name="Save").click()

    expect(timeline(page)).to_have_count(2)
    updated = timeline(page).nth(1)
    expect(updated.locator(".event-summary")).to_contain_text("Rory Responder updated the incident")
    changes = updated.locator(".change")
    expect(changes).to_have_count(3)
    expect(changes.nth(0)).to_have_text("Title: Queue backlog → Queue backlog growing")
    expect(changes.nth(1)).to_have_text("Status: Open → Mitigated")
    stored = api_client.get(f"/api/incidents/{incident['id']}").json()
    assert plain_spaces(changes.nth(2).text_content()) == f"Mitigated: — → {exact_time(stored['mitigated_at'])}"
    expect(page.locator('dd[data-field="updated_by"]')).to_have_text("Rory Responder")
    expect(page.locator('dd[data-field="created_by"]')).to_have_text("Ada Admin")

    page.get_by_label("Note").fill("Scaled the workers\nfrom 4 to 8.")
    with page.expect_response(lambda response: response.url.endswith("/notes")) as response_info:
        page.get_by_role("button", name="Add note").click()

    assert response_info.value.status == 201
    expect(timeline(page)).to_have_count(3)
    note = timeline(page).nth(2)
    expect(note.locator(".event-summary")).to_contain_text("Rory Responder added a note")
    assert note.locator(".event-note").inner_text() == "Scaled the workers\nfrom 4 to 8."
    expect(note.locator("time")).to_have_text("just now")
    expect(page.get_by_label("Note")).to_have_value("")
    expect(page.locator("#event-count")).to_have_text("3 events")
    assert page.evaluate("window.notReloaded") is True  # all of it without a reload

    page.goto("/create.html")
    page.get_by_label("Title").fill("Made by a responder")
    page.get_by_label("Service").fill("api")
    page.get_by_label("Severity").select_option("SEV4")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Made by a responder")
    expect(page.locator('dd[data-field="created_by"]')).to_have_text("Rory Responder")


def test_admin_archives_with_confirmation_and_restores(
    page: Page, web_url: str, accounts: dict[str, Account], create_incident: CreateIncident, api_client: httpx.Client
) -> None:
    incident = create_incident(title="Old outage", service="legacy")
    create_incident(title="Still live", service="api")
    deletes = requests_with(page, "DELETE")

    sign_in_as(page, accounts["admin"], "/index.html")
    expect(page.locator("#rows .incident-link")).to_have_text(["Old outage", "Still live"])  # Active: oldest first
    page.get_by_role("link", name="Old outage").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Old outage")
    modal = page.locator("#archive-modal")

    # Cancel: nothing happens.
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(modal).to_be_visible()
    expect(modal.get_by_role("heading")).to_have_text("Archive this incident?")
    expect(modal).to_contain_text(f"#{incident['id']} Old outage")
    modal.get_by_role("button", name="Cancel").click()
    expect(modal).to_be_hidden()
    page.wait_for_timeout(300)
    assert deletes == []
    assert api_client.get(f"/api/incidents/{incident['id']}").json()["archived_at"] is None
    expect(page.locator("#archived-banner")).to_be_hidden()

    # Confirm: archived.
    page.get_by_role("button", name="Archive", exact=True).click()
    modal.get_by_role("button", name="Archive incident").click()

    expect(modal).to_be_hidden()
    banner = page.locator("#archived-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("This incident is archived")
    expect(banner.locator('[data-field="archived_by"]')).to_have_text("Ada Admin")
    expect(banner.locator('[data-field="archived_at"] time')).to_have_text("just now")
    expect(page.locator('[data-field="archived-heading"]')).to_be_visible()
    expect(page).to_have_url(f"{web_url}/detail.html?id={incident['id']}&archived=1")
    expect(page.get_by_role("button", name="Restore")).to_be_focused()
    expect(page.locator("#incident-form")).to_be_hidden()
    expect(page.locator("#note-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Archive", exact=True)).to_be_hidden()
    expect(timeline(page).last.locator(".event-summary")).to_contain_text("Ada Admin archived the incident")
    assert len(deletes) == 1
    page.reload()  # the address finds it again
    expect(page.locator("#archived-banner")).to_be_visible()

    # Gone from the list; there in the archived view.
    page.goto("/index.html")
    expect(page.locator("#rows .incident-link")).to_have_text(["Still live"])
    page.get_by_label("Show archived").check()
    expect(page).to_have_url(f"{web_url}/index.html?archived=true")
    expect(page.get_by_role("heading", level=1)).to_have_text("Archived incidents")
    expect(page.locator("#rows .incident-link")).to_have_text(["Old outage"])
    expect(page.locator("#rows .archived-by")).to_contain_text("Archived by Ada Admin")
    link = page.get_by_role("link", name="Old outage")
    expect(link).to_have_attribute("href", f"detail.html?id={incident['id']}&archived=1")
    page.reload()  # the view is in the address
    expect(page.get_by_label("Show archived")).to_be_checked()
    expect(page.locator("#rows .incident-link")).to_have_text(["Old outage"])
    link.click()

    # Restore: the live incident again.
    page.get_by_role("button", name="Restore").click()
    expect(page.locator("#archived-banner")).to_be_hidden()
    expect(page.locator("#page-messages")).to_contain_text(f"Incident #{incident['id']} restored.")
    expect(page).to_have_url(f"{web_url}/detail.html?id={incident['id']}")
    expect(page.locator("#incident-form")).to_be_visible()
    expect(page.get_by_role("button", name="Archive", exact=True)).to_be_visible()
    expect(timeline(page).last.locator(".event-summary")).to_contain_text("Ada Admin restored the incident")
    assert api_client.get(f"/api/incidents/{incident['id']}").json()["archived_at"] is None

    page.get_by_role("link", name="Back to incidents").first.click()  # to the list as it was left
    expect(page).to_have_url(f"{web_url}/index.html?archived=true")
    expect(page.locator(".empty-state")).to_contain_text("No archived incidents")
    page.get_by_label("Show archived").uncheck()
    expect(page).to_have_url(f"{web_url}/index.html")
    expect(page.locator("#rows .incident-link")).to_have_text(["Old outage", "Still live"])


def test_admin_following_an_old_link_finds_the_archived_incident(
    page: Page, web_url: str, accounts: dict[str, Account], create_incident: CreateIncident, api_client: httpx.Client
) -> None:
    incident = create_incident(title="Archived elsewhere")
    assert api_client.delete(f"/api/incidents/{incident['id']}").status_code == 200

    # The page finds the incident among the archived ones and says so in its URL.
    sign_in_as(
        page,
        accounts["admin"],
        f"/detail.html?id={incident['id']}",
        arrives_at=f"/detail.html?id={incident['id']}&archived=1",
    )

    expect(page.get_by_role("heading", level=1)).to_have_text("Archived elsewhere")
    expect(page.locator("#archived-banner")).to_be_visible()
    expect(page).to_have_url(f"{web_url}/detail.html?id={incident['id']}&archived=1")
