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


PAGES = [
    PageCase("sign-in", sign_in, role=None),
    PageCase("sign-in-failed", sign_in_failed, role=None),
    PageCase("list-empty", list_empty),
    PageCase("list-with-rows", list_with_rows),
    PageCase("create", create_form),
    PageCase("detail-with-timeline", detail_with_timeline),
    PageCase("shortcuts-dialog", shortcuts_dialog),
    PageCase("user-menu", user_menu_open),
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
