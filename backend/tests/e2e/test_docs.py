"""The API docs in a real browser that may reach the API's origin and nothing else: Swagger UI renders from the API's
own files, with no request elsewhere and no Content-Security-Policy violation, and its Authorize button signs in."""

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.e2e.conftest import Account

pytestmark = [pytest.mark.e2e, pytest.mark.role(None)]

# Every violation the page's policy reports, before any script of the page runs (Playwright's init scripts are
# exempt from the page's policy).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@dataclass
class Offline:
    """What the page tried to reach outside the API's origin (refused), and what its console said of the policy."""

    foreign: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def offline(page: Page, api_url: str) -> Iterator[Offline]:
    seen = Offline()

    def only_the_api(route: Route) -> None:
        url = route.request.url
        if url == api_url or url.startswith(f"{api_url}/"):
            route.continue_()
        else:
            seen.foreign.append(url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.console.append(message.text)

    page.route("**/*", only_the_api)
    page.on("console", on_console)
    page.add_init_script(RECORD_VIOLATIONS)
    yield seen


def operation_count(api_url: str) -> int:
    paths = httpx.get(f"{api_url}/openapi.json", timeout=10).json()["paths"]
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return sum(1 for operations in paths.values() for method in operations if method in methods)


def assert_clean(page: Page, offline: Offline) -> None:
    assert offline.foreign == []
    assert offline.console == []
    assert page.evaluate("window.cspViolations") == []


def test_swagger_ui_renders_every_operation_from_the_apis_own_files(page: Page, api_url: str, offline: Offline):
    page.goto(f"{api_url}/docs")

    expect(page.locator(".opblock")).to_have_count(operation_count(api_url))
    expect(page.locator(".opblock-summary-path", has_text="/api/incidents/{incident_id}/restore")).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("Incident Tracker API")
    assert_clean(page, offline)


def test_swagger_ui_authorize_signs_in_and_try_it_out_uses_the_token(
    page: Page, api_url: str, offline: Offline, accounts: dict[str, Account]
):
    admin = accounts["admin"]
    page.goto(f"{api_url}/docs")

    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("OAuth2PasswordBearer")).to_be_visible()
    dialog.locator("#oauth_username").fill(admin.email)
    dialog.locator("#oauth_password").fill(admin.password)
    dialog.locator("button.authorize").click()
    # Signed in: the token URL answered, and the dialog offers to sign out.
    expect(dialog.get_by_role("heading", name="Authorized")).to_be_visible()
    expect(dialog.locator("button", has_text="Logout")).to_be_visible()
    dialog.locator("button", has_text="Close").click()
    expect(dialog).to_have_count(0)

    me = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/api/auth/me"))
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    expect(me.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    expect(me.locator(".live-responses-table tbody .response-col_description pre").first).to_contain_text(admin.email)
    assert_clean(page, offline)
