"""users.html, as an admin uses it: the accounts page by page, a new account (with its field errors in plain words),
a role changed, an account deactivated and reactivated, a password reset and then used; the API's refusal to lose
the last active admin shown next to the action; refused to everyone but admins; no sideways scrolling on a phone."""

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy
from playwright.sync_api import Browser, Locator, Page, Request, expect

from app.database import utcnow
from app.models import Role, User
from tests.e2e.conftest import ACCOUNTS, MakeAccount
from tests.e2e.helpers import exact_time, plain_spaces, sign_in_through_page

pytestmark = [pytest.mark.e2e, pytest.mark.role("admin")]


@pytest.fixture(autouse=True)
def only_the_three_accounts(empty_tables: None, e2e_engine: sqlalchemy.Engine) -> None:
    """Each test starts with exactly the three accounts of the session, as they were made (the tables that name
    an account were emptied first), so that the list holds known rows."""
    kept = [account.email for account in ACCOUNTS.values()]
    with e2e_engine.begin() as connection:
        connection.execute(sqlalchemy.delete(User.__table__).where(User.__table__.c.email.not_in(kept)))
        for account in ACCOUNTS.values():
            connection.execute(
                sqlalchemy.update(User.__table__)
                .where(User.__table__.c.email == account.email)
                .values(role=Role(account.role), is_active=True)
            )


def add_accounts(engine: sqlalchemy.Engine, count: int) -> list[str]:
    """`count` more accounts straight into the table (no password anyone could use), created a second apart."""
    start = utcnow()
    rows = [
        {
            "email": f"person-{n:02d}@example.com",
            "display_name": f"Person {n:02d}",
            "role": Role.VIEWER,
            "password_hash": "not-a-hash",
            "is_active": True,
            "token_version": 0,
            "created_at": start + timedelta(seconds=n),
            "updated_at": start + timedelta(seconds=n),
        }
        for n in range(1, count + 1)
    ]
    with engine.begin() as connection:
        connection.execute(sqlalchemy.insert(User.__table__), rows)
    return [row["display_name"] for row in rows]


def user_row(page: Page, name: str) -> Locator:
    return page.locator("#rows tr").filter(has=page.locator("th.user-name", has_text=re.compile(f"^{re.escape(name)}")))


def stored_user(client: httpx.Client, email: str) -> dict:
    response = client.get("/api/users", params={"limit": 100})
    assert response.status_code == 200, response.text
    (user,) = [item for item in response.json()["items"] if item["email"] == email]
    return user


def api_requests(page: Page, path: str) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if path in request.url else None)
    return seen


@pytest.mark.role("responder")
def test_a_responder_is_told_the_page_is_for_admins_and_no_accounts_are_read(page: Page) -> None:
    asked = api_requests(page, "/api/users")
    page.goto("/users.html")

    refusal = page.locator("#not-allowed")
    expect(refusal).to_be_visible()
    expect(refusal.get_by_role("heading")).to_have_text("This page is for admins")
    expect(refusal).to_contain_text("Only admins manage accounts; your role is responder.")
    expect(refusal).to_be_focused()
    expect(page.locator("#users-card")).to_be_hidden()
    expect(page.get_by_role("button", name="New user")).to_be_hidden()
    expect(page.locator('[data-needs="manageUsers"]')).to_be_hidden()  # nor is the navbar's link offered
    assert asked == []


def test_the_accounts_are_listed_page_by_page_with_the_page_in_the_address(
    page: Page, e2e_engine: sqlalchemy.Engine, api_client: httpx.Client
) -> None:
    added = add_accounts(e2e_engine, 20)
    with e2e_engine.begin() as connection:  # one that cannot be signed in with, and a name that is markup
        connection.execute(
            sqlalchemy.update(User.__table__)
            .where(User.__table__.c.display_name == "Person 20")
            .values(is_active=False, display_name="<b>Person 20</b>")
        )
    names = ["Ada Admin", "Rory Responder", "Vic Viewer", *added[:-1], "<b>Person 20</b>"]

    page.goto("/users.html")
    expect(page.locator("#summary")).to_have_text("Showing 1-20 of 23 users")
    expect(page.locator("#rows th.user-name")).to_have_text([re.compile(f"^{re.escape(n)}") for n in names[:20]])
    ada = user_row(page, "Ada Admin")
    expect(ada.locator(".you-badge")).to_have_text("you")
    expect(ada.locator(".user-email")).to_have_text("admin@example.com")
    expect(ada.locator(".user-role")).to_have_text("Admin")
    expect(ada.locator(".user-status")).to_have_text("Active")
    created = stored_user(api_client, "admin@example.com")["created_at"]
    assert plain_spaces(ada.locator(".user-created time").get_attribute("title")) == exact_time(created)
    expect(user_row(page, "Vic Viewer").locator(".user-role")).to_have_text("Viewer")

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"/users\.html\?page=2$"))
    expect(page.locator("#summary")).to_have_text("Showing 21-23 of 23 users")
    expect(page.locator("#rows th.user-name")).to_have_text(names[20:])
    last = user_row(page, "<b>Person 20</b>")
    expect(last.locator(".user-status")).to_have_text("Inactive")
    expect(last.get_by_role("button", name="Reactivate")).to_be_visible()
    expect(page.locator("#rows b")).to_have_count(0)  # the name is text, not markup
    expect(page.locator("#page-heading")).to_be_focused()

    page.go_back()
    expect(page).to_have_url(re.compile(r"/users\.html$"))
    expect(page.locator("#summary")).to_have_text("Showing 1-20 of 23 users")
    page.goto("/users.html?page=2")  # a shared link opens on its page
    expect(page.locator("#rows th.user-name")).to_have_text(names[20:])


def test_a_new_account_with_field_errors_in_plain_words_then_created(page: Page, api_client: httpx.Client) -> None:
    page.goto("/users.html")
    expect(page.locator("#rows tr")).to_have_count(3)
    page.get_by_role("button", name="New user").click()
    form = page.locator("#create-form")
    expect(form.get_by_label("Email")).to_be_focused()

    # The page's own checks first: nothing is sent.
    form.get_by_label("Email").fill("sam@example")
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Create user").click()
    expect(page.locator("#new-email-feedback")).to_have_text("Enter an email address like sam@example.com.")
    expect(page.locator("#new-display-name-feedback")).to_have_text("Enter the person's name.")
    expect(page.locator("#new-password-feedback")).to_have_text("Use at least 8 characters (this has 5).")
    expect(form.get_by_label("Email")).to_be_focused()
    expect(form.get_by_label("Email")).to_have_attribute("aria-invalid", "true")

    # The API's refusal of an address, on its field in words (not "body.email", not "Value error").
    form.get_by_label("Email").fill("sam@example.test")
    form.get_by_label("Name", exact=True).fill("Sam Rivera")
    form.get_by_label("Role").select_option("viewer")
    form.get_by_label("Password").fill("a long enough password")
    form.get_by_role("button", name="Create user").click()
    expect(page.locator("#new-email-feedback")).to_have_text(
        "This email address cannot be used. The part after the @-sign is a special-use or reserved name that "
        "cannot be used with email."
    )
    expect(form.get_by_label("Email")).to_be_focused()

    # An address already taken.
    form.get_by_label("Email").fill("ADMIN@example.com")
    form.get_by_role("button", name="Create user").click()
    expect(page.locator("#new-email-feedback")).to_have_text("An account with this email already exists.")

    form.get_by_label("Email").fill("sam@example.com")
    expect(form.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")  # editing clears the mark
    form.get_by_role("button", name="Create user").click()

    row = user_row(page, "Sam Rivera")
    expect(row.locator(".row-message")).to_have_text("Account created for Sam Rivera.")
    expect(row.locator("th.user-name")).to_be_focused()
    expect(row.locator(".user-role")).to_have_text("Viewer")
    expect(page.locator("#create-card")).to_be_hidden()
    expect(page.locator("#summary")).to_have_text("Showing 1-4 of 4 users")
    stored = stored_user(api_client, "sam@example.com")
    assert (stored["display_name"], stored["role"], stored["is_active"]) == ("Sam Rivera", "viewer", True)


def test_a_role_is_changed_in_its_row(page: Page, make_account: MakeAccount, api_client: httpx.Client) -> None:
    account = make_account(role="responder", display_name="Rita Role")
    page.goto("/users.html")
    row = user_row(page, "Rita Role")
    change = row.get_by_role("button", name="Change role")
    expect(change).to_be_disabled()  # nothing to change yet

    row.get_by_label("Role of Rita Role").select_option("admin")
    change.click()

    row = user_row(page, "Rita Role")
    expect(row.locator(".row-message")).to_have_text("Rita Role is now an admin.")
    expect(row.locator(".user-role")).to_have_text("Admin")
    expect(row.get_by_label("Role of Rita Role")).to_be_focused()
    assert stored_user(api_client, account.email)["role"] == "admin"


def test_the_last_active_admin_is_kept_and_the_refusal_is_shown_by_the_action(
    page: Page, api_client: httpx.Client
) -> None:
    page.goto("/users.html")
    ada = user_row(page, "Ada Admin")
    ada.get_by_label("Role of Ada Admin").select_option("responder")
    ada.get_by_role("button", name="Change role").click()

    refusal = user_row(page, "Ada Admin").locator(".row-message").get_by_role("alert")
    expect(refusal).to_have_text("This is the last active admin: make another admin first.")
    expect(refusal).to_be_focused()
    expect(ada.locator(".user-role")).to_have_text("Admin")

    ada.get_by_role("button", name="Deactivate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Deactivate Ada Admin?")
    expect(dialog).to_contain_text("This is your own account: you will be signed out too.")
    dialog.get_by_role("button", name="Deactivate").click()
    expect(dialog).to_be_hidden()
    refusal = user_row(page, "Ada Admin").locator(".row-message").get_by_role("alert")
    expect(refusal).to_have_text("This is the last active admin: make another admin first.")
    expect(refusal).to_be_focused()
    expect(ada.locator(".user-status")).to_have_text("Active")
    stored = stored_user(api_client, "admin@example.com")
    assert (stored["role"], stored["is_active"]) == ("admin", True)
    assert page.url.endswith("/users.html")  # still signed in


def test_an_account_is_deactivated_after_a_confirmation_and_reactivated(
    page: Page, make_account: MakeAccount, api_client: httpx.Client, api_url: str
) -> None:
    account = make_account(role="responder", display_name="Dora Leaving")
    page.goto("/users.html")
    row = user_row(page, "Dora Leaving")

    row.get_by_role("button", name="Deactivate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Deactivate Dora Leaving?")
    expect(dialog.locator("#deactivate-self")).to_be_hidden()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name="Deactivate")).to_be_focused()
    assert stored_user(api_client, account.email)["is_active"] is True

    row.get_by_role("button", name="Deactivate").click()
    expect(dialog.get_by_role("button", name="Deactivate")).to_be_focused()
    dialog.get_by_role("button", name="Deactivate").click()
    row = user_row(page, "Dora Leaving")
    expect(row.locator(".user-status")).to_have_text("Inactive")
    expect(row.locator(".row-message")).to_have_text("Dora Leaving is deactivated and signed out everywhere.")
    expect(row.get_by_role("button", name="Reactivate")).to_be_focused()
    assert stored_user(api_client, account.email)["is_active"] is False
    refused = httpx.post(f"{api_url}/api/auth/token", data={"username": account.email, "password": account.password})
    assert refused.status_code == 401

    row.get_by_role("button", name="Reactivate").click()  # no confirmation needed to give access back
    row = user_row(page, "Dora Leaving")
    expect(row.locator(".user-status")).to_have_text("Active")
    expect(row.locator(".row-message")).to_have_text("Dora Leaving can sign in again.")
    expect(row.get_by_role("button", name="Deactivate")).to_be_focused()
    assert stored_user(api_client, account.email)["is_active"] is True


def test_a_password_is_reset_and_the_person_signs_in_with_it(
    page: Page, make_account: MakeAccount, browser: Browser, web_url: str, api_url: str
) -> None:
    account = make_account(role="viewer", display_name="Pat Forgetful")
    page.goto("/users.html")
    row = user_row(page, "Pat Forgetful")
    row.get_by_role("button", name="Reset password").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("New password for Pat Forgetful")
    expect(dialog.get_by_label("New password", exact=True)).to_be_focused()

    dialog.get_by_label("New password", exact=True).fill("abc")
    dialog.get_by_role("button", name="Set password").click()
    expect(page.locator("#reset-password-feedback")).to_have_text("Use at least 8 characters (this has 3).")
    expect(page.locator("#reset-password-again-feedback")).to_have_text("Type the new password again.")

    dialog.get_by_label("New password", exact=True).fill("brand new secret")
    dialog.get_by_label("New password again").fill("brand new secret!")
    dialog.get_by_role("button", name="Set password").click()
    expect(page.locator("#reset-password-again-feedback")).to_have_text(
        "The two passwords differ: type the same one twice."
    )
    expect(dialog.get_by_label("New password again")).to_be_focused()

    dialog.get_by_label("New password again").fill("brand new secret")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog).to_be_hidden()
    row = user_row(page, "Pat Forgetful")
    expect(row.locator(".row-message")).to_have_text(
        "New password set. Pat Forgetful is signed out everywhere and signs in with it."
    )
    expect(row.get_by_role("button", name="Reset password")).to_be_focused()

    old = httpx.post(f"{api_url}/api/auth/token", data={"username": account.email, "password": account.password})
    assert old.status_code == 401
    context = browser.new_context(base_url=web_url, locale="en-US", timezone_id="UTC")
    try:
        person = context.new_page()
        person.goto("/login.html")
        sign_in_through_page(person, account.email, "brand new secret")
        expect(person).to_have_url(re.compile(r"/index\.html$"))
        expect(person.locator('[data-user="name"]')).to_have_text("Pat Forgetful")
    finally:
        context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_on_a_phone_nothing_scrolls_sideways(page: Page, theme: str, e2e_engine: sqlalchemy.Engine) -> None:
    add_accounts(e2e_engine, 2)
    with e2e_engine.begin() as connection:
        connection.execute(
            sqlalchemy.update(User.__table__)
            .where(User.__table__.c.display_name == "Person 01")
            .values(display_name="A-very-long-name-without-any-spaces-that-must-wrap-somewhere-" * 2)
        )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/login.html")
    page.evaluate("theme => localStorage.setItem('incident-tracker:theme', theme)", theme)
    page.goto("/users.html")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
    expect(page.locator("#rows tr")).to_have_count(5)
    page.get_by_role("button", name="New user").click()
    user_row(page, "Ada Admin").get_by_label("Role of Ada Admin").select_option("viewer")
    user_row(page, "Ada Admin").get_by_role("button", name="Change role").click()
    expect(user_row(page, "Ada Admin").get_by_role("alert")).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") == 390
    # The rows are stacked cards: each cell is as wide as its row.
    box = user_row(page, "Ada Admin").locator(".user-email").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


def test_the_api_field_errors_read_in_plain_words(page: Page) -> None:
    page.goto("/login.html")
    result = page.evaluate(
        """async () => {
            const f = await import("/js/admin-forms.js");
            const problem = {errors: [
                {loc: ["body", "email"], type: "value_error",
                 msg: "Value error, value is not a valid email address: An email address must have an @-sign."},
                {loc: ["body", "display_name"], type: "string_too_long",
                 msg: "String should have at most 100 characters"},
                {loc: ["body", "password"], type: "string_too_short", msg: "String should have at least 8 characters"},
                {loc: ["body", "role"], type: "enum", msg: "Input should be 'viewer', 'responder' or 'admin'"},
            ]};
            return {
                api: f.plainFieldErrors(problem),
                invisible: f.plainFieldError("display_name", {type: "string_invisible_character", msg: "x"}),
                typed: [
                    f.checkField("display_name", "  "), f.checkField("display_name", "x".repeat(101)),
                    f.checkField("display_name", "Zoë 👩‍🚀"), f.checkField("display_name", "a\\u0007b"),
                    f.checkField("email", "sam\\u200b@example.com"),
                    f.checkField("password", "😀".repeat(8)), f.checkField("password", "x".repeat(129)),
                    f.checkField("email", "sam@example.com"), f.checkField("email", "sam @example.com"),
                ],
            };
        }"""
    )
    assert result["api"] == {
        "email": "This email address cannot be used. An email address must have an @-sign.",
        "display_name": "Use at most 100 characters.",
        "password": "Use at least 8 characters.",
        "role": "Choose one of the roles: Viewer, Responder or Admin.",
    }
    assert result["invisible"] == "Remove the invisible or control characters (they may have come with pasted text)."
    assert result["typed"] == [
        "Enter the person's name.",
        "Use at most 100 characters (this has 101).",
        "",  # a name may hold an emoji's zero-width joiner, as the API allows
        "Remove the invisible or control characters (they may have come with pasted text).",
        "Remove the invisible or control characters (they may have come with pasted text).",
        "",  # eight characters, however many bytes
        "Use at most 128 characters (this has 129).",
        "",
        "Enter an email address like sam@example.com.",
    ]
