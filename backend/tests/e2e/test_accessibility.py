"""axe-core on every page, in both themes, on a desktop and on a phone: no `serious` or `critical` finding.

Each page is one entry of PAGES: its name, how to reach it (given the test's data fixtures) and what it shows once
ready. A new page is one more entry."""

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.conftest import ApiAs, CreateIncident

pytestmark = pytest.mark.e2e

WIDTHS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
THEMES = ("light", "dark")


class Data(NamedTuple):
    """What a page entry may use to make its data."""

    create_incident: CreateIncident
    api_as: ApiAs


class PageCase(NamedTuple):
    name: str
    open: Callable[[Page, Data], None]  # go to the page (making its data first) and wait until it is ready
    role: str = "responder"


def list_empty(page: Page, data: Data) -> None:
    page.goto("/index.html")
    expect(page.locator("#list-message .empty-state")).to_be_visible()


def list_with_rows(page: Page, data: Data) -> None:
    for number, severity in enumerate(("SEV1", "SEV2", "SEV3", "SEV4"), start=1):
        data.create_incident(title=f"Checkout errors {number}", service="payments", severity=severity)
    data.create_incident(title="Mitigated one", severity="SEV2", status="MITIGATED")
    data.create_incident(title="Resolved one", severity="SEV3", status="RESOLVED")
    page.goto("/index.html?status=OPEN&status=MITIGATED&status=RESOLVED")
    expect(page.locator("#rows tr.incident-row")).to_have_count(6)


def create_form(page: Page, data: Data) -> None:
    page.goto("/create.html")
    expect(page.locator("#incident-form")).to_be_visible()


def detail_with_timeline(page: Page, data: Data) -> None:
    incident = data.create_incident(title="Checkout errors", service="payments", severity="SEV1")
    responder = data.api_as("responder")
    path = f"/api/incidents/{incident['id']}"
    assert responder.post(f"{path}/notes", json={"text": "Rolled back the deploy."}).is_success
    changed = responder.patch(path, json={"status": "MITIGATED"}, headers={"If-Match": f'"{incident["version"]}"'})
    assert changed.is_success, changed.text
    page.goto(f"/detail.html?id={incident['id']}")
    expect(page.locator("#events > li.timeline-item")).to_have_count(3)


def shortcuts_dialog(page: Page, data: Data) -> None:
    list_empty(page, data)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    expect(page.locator("#shortcuts-dialog")).to_have_css("opacity", "1")  # faded in: colours as they are read


def user_menu_open(page: Page, data: Data) -> None:
    list_empty(page, data)
    page.locator("#user-menu-button").click()
    expect(page.locator(".user-menu")).to_be_visible()


def sign_in(page: Page, data: Data) -> None:
    page.goto("/login.html")
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()


def sign_in_failed(page: Page, data: Data) -> None:
    sign_in(page, data)
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()


def users_page(page: Page, data: Data) -> None:
    page.goto("/users.html")
    expect(page.locator("#rows tr").first).to_be_visible()


def audit_page(page: Page, data: Data) -> None:
    incident = data.create_incident(title="Checkout errors")
    assert data.api_as("responder").post(f"/api/incidents/{incident['id']}/notes", json={"text": "Looking"}).is_success
    page.goto("/audit.html")
    expect(page.locator("#rows tr")).to_have_count(2)


def metrics_page(page: Page, data: Data) -> None:
    incident = data.create_incident(title="Checkout errors", severity="SEV2")
    answer = data.api_as("responder").patch(
        f"/api/incidents/{incident['id']}", json={"status": "RESOLVED"}, headers={"If-Match": '"1"'}
    )
    assert answer.is_success, answer.text
    data.create_incident(title="Login slow", severity="SEV1")
    page.goto("/metrics.html")
    expect(page.locator("#open-total")).to_have_text("1")


def detail_editing(page: Page, data: Data) -> None:
    detail_with_timeline(page, data)
    page.get_by_role("button", name="Edit", exact=True).click()
    expect(page.locator("#incident-form")).to_be_visible()


PAGES = [
    PageCase("sign-in", sign_in, role=None),
    PageCase("sign-in-failed", sign_in_failed, role=None),
    PageCase("list-empty", list_empty),
    PageCase("list-with-rows", list_with_rows),
    PageCase("create", create_form),
    PageCase("detail-with-timeline", detail_with_timeline),
    PageCase("detail-editing", detail_editing),
    PageCase("metrics", metrics_page),
    PageCase("shortcuts-dialog", shortcuts_dialog),
    PageCase("user-menu", user_menu_open),
    PageCase("users", users_page, role="admin"),
    PageCase("audit-log", audit_page, role="admin"),
]


def cases() -> list[Any]:
    return [
        pytest.param(case, theme, width, id=f"{case.name}-{theme}-{width}", marks=pytest.mark.role(case.role))
        for case in PAGES
        for theme in THEMES
        for width in WIDTHS
    ]


@pytest.mark.parametrize(("case", "theme", "width"), cases())
def test_no_serious_axe_findings(
    page: Page, case: PageCase, theme: str, width: str, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    page.set_viewport_size(WIDTHS[width])
    page.emulate_media(color_scheme=theme, reduced_motion="reduce")  # the system's theme, followed by theme.js
    case.open(page, Data(create_incident, api_as))
    expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
    assert_no_serious_violations(page, f"{case.name} ({theme}, {width})")


# ---------------------------------------------------------------------------
# The keyboard shortcuts' dialog: `?` on every signed-in page.

SIGNED_IN_PAGES = ["/index.html", "/create.html", "detail", "/metrics.html"]


def open_signed_in(page: Page, path: str, create_incident: CreateIncident) -> None:
    if path == "detail":
        path = f"/detail.html?id={create_incident(title='Checkout errors')['id']}"
    page.goto(path)
    expect(page.locator("#user-menu-button")).to_be_visible()  # the page's scripts have run


def registered_shortcuts(page: Page) -> list[list[str]]:
    """The page's shortcuts as the registry holds them (the same module instance as the page's)."""
    return page.evaluate(
        "async () => (await import('/js/shortcuts.js')).listShortcuts().map(({key, description}) => [key, description])"
    )


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_question_mark_shows_the_pages_shortcuts(page: Page, path: str, create_incident: CreateIncident) -> None:
    open_signed_in(page, path, create_incident)
    focused = page.locator("#theme-toggle")
    focused.focus()

    page.keyboard.press("?")

    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_be_focused()  # the focus moved into the dialog
    listed = registered_shortcuts(page)
    assert ["?", "Show these shortcuts"] in listed
    expect(dialog.locator("dt")).to_have_text([key for key, _ in listed])
    expect(dialog.locator("dd")).to_have_text([description for _, description in listed])
    expect(dialog).to_contain_text("Shortcuts do nothing while you type in a field.")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(focused).to_be_focused()  # back where it was

    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    page.keyboard.press("?")  # ? again closes it too
    expect(dialog).to_be_hidden()
    expect(focused).to_be_focused()


def test_shortcuts_do_not_fire_while_typing(page: Page) -> None:
    page.goto("/create.html")
    title = page.get_by_label("Title")
    title.click()
    page.keyboard.type("Why? Because?")
    expect(title).to_have_value("Why? Because?")
    page.get_by_label("Description").click()
    page.keyboard.press("?")
    expect(page.get_by_label("Description")).to_have_value("?")
    page.wait_for_timeout(300)  # give a wrong dialog time to show
    expect(page.locator("#shortcuts-dialog.show")).to_have_count(0)


def test_enter_on_a_focused_button_is_the_buttons(page: Page) -> None:
    page.goto("/index.html")
    expect(page.locator("#user-menu-button")).to_be_visible()
    page.evaluate(
        "async () => (await import('/js/shortcuts.js')).addShortcut('Enter', 'Test', () => { window.entered = true; })"
    )
    page.locator("#theme-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#theme-menu")).to_be_visible()  # the button did its own thing
    assert page.evaluate("window.entered === undefined")
    page.keyboard.press("Escape")
    page.locator("h1").click()  # nothing focused: the key is the page's
    page.keyboard.press("Enter")
    assert page.evaluate("window.entered === true")
