"""Signing in (login.html), coming back to the page one was sent from, the stored token, an expired session that
keeps the page and its unsaved values, the user menu and signing out."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, quote

import httpx
import pytest
import sqlalchemy
from playwright.sync_api import Page, Request, expect

from app.models import User
from app.security import create_access_token
from tests.e2e.conftest import SECRET_KEY, Account, CreateIncident, MakeAccount
from tests.e2e.helpers import TOKEN_KEY, session_value, sign_in_through_page, store_session

pytestmark = pytest.mark.e2e

INVALID_TOKEN = "not-a-token-the-api-ever-gave"


def login_url_for(next_url: str) -> re.Pattern[str]:
    return re.compile(rf"/login\.html\?next={re.escape(quote(next_url, safe=''))}$")


def expired_token(engine: sqlalchemy.Engine, account: Account) -> str:
    """A token signed with the API's key whose lifetime has run out (the browser does not know that)."""
    with engine.connect() as connection:
        user_id = connection.scalar(sqlalchemy.select(User.id).where(User.email == account.email))
    return create_access_token(str(user_id), SECRET_KEY, timedelta(minutes=-1))


def api_requests(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if "/api/" in request.url else None)
    return seen


@pytest.mark.role(None)
def test_signed_out_visit_signs_in_and_returns_to_the_same_url(
    page: Page, web_url: str, accounts: dict[str, Account], create_incident: CreateIncident
) -> None:
    for number in range(1, 23):
        create_incident(title=f"Open {number:02d}", status="OPEN")
    create_incident(title="Done", status="RESOLVED")

    page.goto("/index.html?view=custom&status=OPEN&page=2")

    expect(page).to_have_url(login_url_for("/index.html?view=custom&status=OPEN&page=2"))
    expect(page).to_have_title("Sign in · Incident Tracker")
    expect(page.get_by_label("Email")).to_be_focused()
    responder = accounts["responder"]
    with page.expect_request("**/api/auth/token") as request_info:
        sign_in_through_page(page, responder.email, responder.password)

    request = request_info.value
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"  # the OAuth2 password form
    assert parse_qs(request.post_data or "") == {"username": [responder.email], "password": [responder.password]}
    expect(page).to_have_url(f"{web_url}/index.html?view=custom&status=OPEN&page=2")
    expect(page.locator("#rows .incident-link")).to_have_text(["Open 02", "Open 01"])
    expect(page.get_by_label("Open", exact=True)).to_be_checked()
    expect(page.locator("#user-menu-button")).to_contain_text("Rory Responder")
    page.go_back()  # the sign-in page replaced itself: Back does not return to the form
    expect(page).not_to_have_url(re.compile(r"/login\.html"))


@pytest.mark.role(None)
@pytest.mark.parametrize("role", ["viewer", "responder", "admin"])
def test_each_role_signs_in(page: Page, web_url: str, accounts: dict[str, Account], role: str) -> None:
    page.goto("/login.html")
    sign_in_through_page(page, accounts[role].email, accounts[role].password)

    expect(page).to_have_url(f"{web_url}/index.html")  # no `next`: the incident list
    page.locator("#user-menu-button").click()
    menu = page.locator(".user-menu")
    expect(menu.locator("[data-user=name]")).to_have_text(accounts[role].display_name)
    expect(menu.locator("[data-user=role] .badge")).to_have_text(role.capitalize())
    stored = page.evaluate("key => JSON.parse(localStorage.getItem(key))", TOKEN_KEY)
    assert set(stored) == {"access_token", "expires_at"}


@pytest.mark.role(None)
def test_wrong_password_shows_the_api_error(page: Page, accounts: dict[str, Account]) -> None:
    page.goto("/login.html?next=%2Fcreate.html")
    with page.expect_response("**/api/auth/token") as response_info:
        sign_in_through_page(page, accounts["viewer"].email, "not-the-password")

    assert response_info.value.status == 401
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Could not sign in")
    expect(alert).to_contain_text("Incorrect email or password.")
    expect(page).to_have_url(re.compile(r"/login\.html\?next="))
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    expect(page.get_by_label("Password")).to_be_focused()
    assert page.evaluate("key => localStorage.getItem(key)", TOKEN_KEY) is None


@pytest.mark.role(None)
def test_empty_form_is_not_sent(page: Page) -> None:
    sent = api_requests(page)
    page.goto("/login.html")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#email-feedback")).to_be_visible()
    expect(page.locator("#password-feedback")).to_be_visible()
    page.wait_for_timeout(300)
    assert sent == []


@pytest.mark.role(None)
def test_typing_before_the_script_runs_keeps_the_cursor_and_the_text(page: Page, accounts: dict[str, Account]) -> None:
    """A person (or a password manager) may fill the form before login.js has run: the script must not pull the
    cursor back to Email, or the rest of the password lands there."""
    held = []
    page.route("**/js/login.js", lambda route: held.append(route))
    page.goto("/login.html", wait_until="commit")
    page.get_by_label("Email").fill(accounts["viewer"].email)
    page.get_by_label("Password").fill("first-half")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    held[0].continue_()

    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()  # the script has run
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("-second-half")
    expect(page.get_by_label("Email")).to_have_value(accounts["viewer"].email)
    expect(page.get_by_label("Password")).to_have_value("first-half-second-half")


@pytest.mark.role(None)
def test_button_is_disabled_while_signing_in(page: Page, accounts: dict[str, Account]) -> None:
    held = []
    page.route("**/api/auth/token", lambda route: held.append(route))
    page.goto("/login.html")
    sign_in_through_page(page, accounts["viewer"].email, accounts["viewer"].password)

    button = page.locator("#login-form [type=submit]")
    expect(button).to_be_disabled()
    expect(button).to_have_text("Signing in…")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    held[0].continue_()
    expect(page).to_have_url(re.compile(r"/index\.html$"))


@pytest.mark.role(None)
def test_too_many_failures_show_when_to_try_again(page: Page, api_url: str, make_account: MakeAccount) -> None:
    account = make_account(role="viewer", display_name="Locked Out")  # its own account: the others stay usable
    for _ in range(5):
        response = httpx.post(f"{api_url}/api/auth/token", data={"username": account.email, "password": "wrong"})
        assert response.status_code == 401

    page.goto("/login.html")
    with page.expect_response("**/api/auth/token") as response_info:
        sign_in_through_page(page, account.email, account.password)  # even the right password waits

    response = response_info.value
    assert response.status == 429
    seconds = int(response.headers["retry-after"])
    assert seconds > 0
    expect(page.get_by_role("alert")).to_contain_text(f"Too many failed sign-ins. Try again in {seconds} seconds.")
    expect(page).to_have_url(re.compile(r"/login\.html$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()


@pytest.mark.role(None)
@pytest.mark.parametrize("next_url", ["https://evil.example/index.html", "//evil.example/index.html"])
def test_next_leads_only_to_our_pages(page: Page, web_url: str, accounts: dict[str, Account], next_url: str) -> None:
    page.goto(f"/login.html?next={quote(next_url, safe='')}")
    sign_in_through_page(page, accounts["viewer"].email, accounts["viewer"].password)

    expect(page).to_have_url(f"{web_url}/index.html")


@pytest.mark.role(None)
def test_invalid_token_goes_to_sign_in_and_back(
    page: Page, web_url: str, accounts: dict[str, Account], create_incident: CreateIncident
) -> None:
    for number in range(1, 22):
        create_incident(title=f"Open {number:02d}")
    store_session(page, session_value(INVALID_TOKEN))

    page.goto("/index.html?view=custom&status=OPEN&page=2")

    expect(page).to_have_url(login_url_for("/index.html?view=custom&status=OPEN&page=2"))
    expect(page.locator("#login-messages")).to_contain_text("Your session has expired.")
    assert page.evaluate("key => localStorage.getItem(key)", TOKEN_KEY) is None  # the refused token is gone
    sign_in_through_page(page, accounts["responder"].email, accounts["responder"].password)

    expect(page).to_have_url(f"{web_url}/index.html?view=custom&status=OPEN&page=2")
    expect(page.locator("#rows .incident-link")).to_have_text(["Open 01"])


@pytest.mark.role(None)
def test_token_past_its_lifetime_is_not_even_sent(page: Page, tokens: dict[str, str]) -> None:
    store_session(page, session_value(tokens["viewer"], expires_in=-60))
    sent = api_requests(page)

    page.goto("/detail.html?id=7")

    expect(page).to_have_url(login_url_for("/detail.html?id=7"))
    expect(page.locator("#login-messages")).to_contain_text("Your session has expired.")
    assert sent == []


@pytest.mark.parametrize("ending", ["expired", "signed out in another tab"])
def test_expired_session_keeps_the_typed_incident(
    page: Page,
    web_url: str,
    accounts: dict[str, Account],
    e2e_engine: sqlalchemy.Engine,
    api_client: httpx.Client,
    ending: str,
) -> None:
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    page.goto("/create.html")
    page.get_by_label("Title").fill("Typed before the session ran out")
    page.get_by_label("Service").fill("billing")
    page.get_by_label("Severity").select_option("SEV2")
    if ending == "expired":  # the API refuses the token (the browser still thinks it is good)
        value = session_value(expired_token(e2e_engine, accounts["responder"]))
        page.evaluate("([key, value]) => localStorage.setItem(key, value)", [TOKEN_KEY, value])
    else:  # the token is gone: nothing is sent
        page.evaluate("key => localStorage.removeItem(key)", TOKEN_KEY)

    page.get_by_role("button", name="Create", exact=True).click()

    expect(page).to_have_url(login_url_for("/create.html"))
    assert [request.url.rsplit("/api/", 1)[-1] for request in posts] == (["incidents/"] if ending == "expired" else [])
    sign_in_through_page(page, accounts["responder"].email, accounts["responder"].password)

    expect(page).to_have_url(f"{web_url}/create.html")
    expect(page.get_by_label("Title")).to_have_value("Typed before the session ran out")
    expect(page.get_by_label("Service")).to_have_value("billing")
    expect(page.get_by_label("Severity")).to_have_value("SEV2")
    expect(page.locator("#form-messages")).to_contain_text("what you had typed is back")
    assert api_client.get("/api/incidents/").json()["total"] == 0

    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Typed before the session ran out")
    page.goto("/create.html")  # the draft was used up: a new form is empty
    expect(page.get_by_label("Title")).to_have_value("")


def test_expired_session_keeps_unsaved_edits_and_note(
    page: Page, web_url: str, accounts: dict[str, Account], create_incident: CreateIncident
) -> None:
    incident = create_incident(title="Before", service="api")
    page.goto(f"/detail.html?id={incident['id']}")
    page.get_by_label("Title").fill("After")
    page.get_by_label("Note").fill("Half a thought")
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [TOKEN_KEY, session_value(INVALID_TOKEN)])

    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(login_url_for(f"/detail.html?id={incident['id']}"))
    sign_in_through_page(page, accounts["responder"].email, accounts["responder"].password)

    expect(page).to_have_url(f"{web_url}/detail.html?id={incident['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Before")  # not saved yet...
    expect(page.get_by_label("Title")).to_have_value("After")  # ...but not lost either
    expect(page.get_by_label("Note")).to_have_value("Half a thought")
    expect(page.locator("#page-messages")).to_contain_text("your unsaved changes are back")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("After")


def test_requests_carry_the_bearer_token(page: Page, tokens: dict[str, str], create_incident: CreateIncident) -> None:
    create_incident(title="Anything")
    with page.expect_request("**/api/incidents/?*") as request_info:
        page.goto("/index.html")

    assert request_info.value.headers["authorization"] == f"Bearer {tokens['responder']}"


def test_user_menu_and_sign_out(page: Page, web_url: str) -> None:
    page.goto("/index.html")
    toggle = page.locator("#user-menu-button")
    expect(toggle).to_contain_text("Rory Responder")
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()

    menu = page.locator(".user-menu")
    expect(menu).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(menu.locator("[data-user=name]")).to_have_text("Rory Responder")
    expect(menu.locator("[data-user=email]")).to_have_text("responder@example.com")
    expect(menu.locator("[data-user=role] .badge")).to_have_text("Responder")
    menu.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{web_url}/login.html")
    assert page.evaluate("key => localStorage.getItem(key)", TOKEN_KEY) is None
    page.goto("/index.html")
    expect(page).to_have_url(login_url_for("/index.html"))


def test_every_page_has_the_user_menu(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Menu")
    for path in ("/index.html", "/create.html", f"/detail.html?id={incident['id']}"):
        page.goto(path)
        expect(page.locator("#user-menu-button")).to_contain_text("Rory Responder")
