"""Forms that help: a counter near a field's limit, overlong text kept and flagged instead of cut, the API's 422
errors in plain sentences on their fields, and an unreachable API that says what to do (with Retry)."""

import json
import re
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.conftest import CreateIncident, DeadApi
from tests.e2e.helpers import UNREACHABLE, open_edit_form

pytestmark = pytest.mark.e2e

INVALID = re.compile(r"\bis-invalid\b")
PYDANTIC_WORDS = ("body.", "Field required", "Input should", "String should", "Extra inputs")


def posts_to(page: Page, pattern: str) -> list[Request]:
    seen: list[Request] = []
    regex = re.compile(pattern)
    page.on(
        "request",
        lambda request: seen.append(request) if request.method == "POST" and regex.search(request.url) else None,
    )
    return seen


# ---------------------------------------------------------------------------
# Limits


def test_the_counter_shows_from_80_percent_of_the_limit(page: Page) -> None:
    page.goto("/create.html")
    title = page.get_by_label("Title")
    counter = page.locator("#title-counter")
    expect(title).not_to_have_attribute("maxlength", re.compile(".*"))  # the page counts; the browser cuts nothing
    expect(title).to_have_attribute("aria-describedby", "title-help title-feedback title-counter")

    title.fill("x" * 159)
    expect(counter).to_be_hidden()
    expect(counter).not_to_have_attribute("aria-live", re.compile(".*"))  # nothing to announce far from the limit

    title.press("x")  # 160 of 200: 80 %
    expect(counter).to_be_visible()
    expect(counter).to_have_text("160 / 200")
    expect(counter).to_have_attribute("aria-live", "polite")
    title.press("x")
    expect(counter).to_have_text("161 / 200")
    expect(title).not_to_have_class(INVALID)

    title.fill("  " + "x" * 150 + "  ")  # counted as sent: trimmed
    expect(counter).to_be_hidden()

    description = page.get_by_label("Description")
    description.fill("é" * 8_000)  # 80 % of 10,000, counted in characters
    expect(page.locator("#description-counter")).to_have_text("8,000 / 10,000")


def test_pasted_overlong_text_is_kept_flagged_and_not_sent(page: Page, api_client: httpx.Client) -> None:
    posts = posts_to(page, r"/api/incidents/$")
    page.goto("/create.html")
    title = page.get_by_label("Title")
    title.focus()
    page.keyboard.insert_text("y" * 250)  # as a paste arrives

    expect(title).to_have_value("y" * 250)  # nothing cut
    expect(title).to_have_class(INVALID)
    expect(title).to_have_attribute("aria-invalid", "true")
    feedback = page.locator("#title-feedback")
    expect(feedback).to_be_visible()
    expect(feedback).to_have_text("Title is 250 characters; the limit is 200. Shorten it by 50.")
    expect(page.locator("#title-counter")).to_have_text("250 / 200: 50 too many")

    page.get_by_label("Service").fill("payments")
    page.get_by_label("Severity").select_option("SEV2")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(title).to_be_focused()
    expect(feedback).to_have_text("Title is 250 characters; the limit is 200. Shorten it by 50.")
    page.wait_for_timeout(300)  # give a wrong request time to show up
    assert posts == []

    title.press("End")
    for _ in range(49):
        title.press("Backspace")
    expect(feedback).to_have_text("Title is 201 characters; the limit is 200. Shorten it by 1.")
    title.press("Backspace")
    expect(title).not_to_have_class(INVALID)
    expect(title).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#title-counter")).to_have_text("200 / 200")

    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/detail\.html\?id=\d+$"))
    [created] = api_client.get("/api/incidents/").json()["items"]
    assert created["title"] == "y" * 200


def test_the_detail_forms_flag_overlong_text(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Checkout errors", service="payments", description="d" * 7_990)
    patches: list[Request] = []
    page.on("request", lambda request: patches.append(request) if request.method == "PATCH" else None)
    notes = posts_to(page, r"/notes$")
    page.goto(f"/detail.html?id={incident['id']}")
    open_edit_form(page)
    expect(page.get_by_label("Title")).to_have_value("Checkout errors")
    expect(page.locator("#description-counter")).to_be_hidden()  # 7,990: under 80 % (counted once filled in)

    description = page.get_by_label("Description")
    description.fill("d" * 8_000)
    expect(page.locator("#description-counter")).to_have_text("8,000 / 10,000")
    description.fill("d" * 10_010)
    expect(page.locator("#description-feedback")).to_have_text(
        "Description is 10,010 characters; the limit is 10,000. Shorten it by 10."
    )
    page.get_by_role("button", name="Save").click()
    expect(description).to_be_focused()

    note = page.get_by_label("Note")
    note.fill("n" * 10_001)
    expect(page.locator("#note-feedback")).to_have_text(
        "Note is 10,001 characters; the limit is 10,000. Shorten it by 1."
    )
    page.get_by_role("button", name="Add note").click()
    expect(note).to_be_focused()
    expect(note).to_have_value("n" * 10_001)
    page.wait_for_timeout(300)
    assert patches == [] and notes == []


# ---------------------------------------------------------------------------
# The API's 422, in words


def test_the_apis_field_errors_read_as_sentences(page: Page) -> None:
    """The real API answers a body the page did not mean to send (title missing, an unknown severity, a field it
    does not take): every error is a sentence on its field, or listed in the alert, never the API's own words."""

    def spoil(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        body.pop("title")
        route.continue_(post_data=json.dumps({**body, "severity": "SEV9", "priority": "high"}))

    page.route(re.compile(r"/api/incidents/$"), spoil)
    page.goto("/create.html")
    page.get_by_label("Title").fill("Checkout errors")
    page.get_by_label("Service").fill("payments")
    page.get_by_label("Severity").select_option("SEV1")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Create", exact=True).click()

    problem = answer.value.json()
    assert answer.value.status == 422
    assert sorted((error["loc"][-1], error["type"]) for error in problem["errors"]) == [
        ("priority", "extra_forbidden"),
        ("severity", "enum"),
        ("title", "missing"),
    ]
    expect(page.locator("#title-feedback")).to_have_text("Title is required.")
    expect(page.locator("#severity-feedback")).to_have_text("Choose a severity from the list.")
    expect(page.get_by_label("Title")).to_have_class(INVALID)
    expect(page.get_by_label("Severity")).to_have_class(INVALID)
    alert = page.locator("#form-messages").get_by_role("alert")
    expect(alert).to_contain_text("The incident was not created")
    expect(alert).to_contain_text("Check the 2 marked fields. Also:")
    expect(alert.locator("li")).to_have_text(["Priority cannot be set here."])
    for words in PYDANTIC_WORDS:
        expect(page.locator("main")).not_to_contain_text(words)
    expect(page.get_by_label("Title")).to_be_focused()


def test_an_error_of_a_kind_not_known_still_reads_as_a_sentence(page: Page) -> None:
    page.goto("/create.html")
    sentences = page.evaluate(
        """async () => {
          const { errorSentence, fieldErrorsFrom } = await import('/js/api.js');
          return [
            errorSentence('title', { type: 'something_new', msg: 'Raw words of the validator' }),
            errorSentence('due_at', { type: 'datetime_parsing', msg: 'Input should be a valid datetime' }),
            errorSentence('title', { type: 'string_too_long', msg: 'String should have at most 200 characters' }),
            errorSentence('password', { type: 'string_too_short', msg: 'String should have at least 8 characters' }),
            errorSentence('status', { type: 'missing', msg: 'Field required' }),
            fieldErrorsFrom({ errors: [{ loc: ['body'], type: 'dict_type', msg: 'Input should be a dict' }] }),
            fieldErrorsFrom({ errors: [{ loc: ['body', 'text'], type: 'string_blank', msg: 'Must not be blank' }] }),
          ];
        }"""
    )
    assert sentences == [
        "Title is not valid. Check it and try again.",
        "Due at is not valid. Check it and try again.",
        "Title must be at most 200 characters.",
        "Password must be at least 8 characters.",
        "Choose a status.",
        {"body": "Something in the form is not valid. Check it and try again."},
        {"text": "Note cannot be blank."},
    ]


@pytest.mark.role(None)
def test_sign_in_errors_land_on_their_fields(page: Page) -> None:
    def drop_the_email(route: Route) -> None:
        form = parse_qs(route.request.post_data or "")
        form.pop("username")
        route.continue_(post_data=urlencode(form, doseq=True))

    page.route(re.compile(r"/api/auth/token$"), drop_the_email)
    page.goto("/login.html")
    password = page.get_by_label("Password")
    password.fill("p" * 130)
    expect(page.locator("#password-feedback")).to_have_text(
        "Password is 130 characters; the limit is 128. Shorten it by 2."
    )
    expect(password).to_have_class(INVALID)
    page.get_by_label("Email").fill("responder@example.com")
    page.get_by_role("button", name="Sign in").click()
    expect(password).to_be_focused()  # not sent

    password.fill("responder-e2e-password")
    with page.expect_response(re.compile(r"/api/auth/token$")) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 422
    expect(page.locator("#email-feedback")).to_have_text("Email is required.")
    expect(page.get_by_label("Email")).to_have_class(INVALID)
    expect(page.get_by_role("alert")).to_contain_text("Could not sign in")
    expect(page.get_by_role("alert")).not_to_contain_text("body.")


# ---------------------------------------------------------------------------
# The API out of reach


@pytest.mark.role(None)
def test_sign_in_with_the_api_down_says_what_to_do(page: Page, dead_api: DeadApi) -> None:
    attempts = posts_to(page, r"/api/auth/token$")
    page.goto(f"{dead_api.web_url}/login.html")
    page.get_by_label("Email").fill("responder@example.com")
    page.get_by_label("Password").fill("responder-e2e-password")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Could not sign in")
    expect(alert).to_contain_text(UNREACHABLE)
    expect(alert).not_to_contain_text(dead_api.api_url)
    expect(alert).not_to_contain_text("127.0.0.1")
    retry = alert.get_by_role("button", name="Retry")
    expect(retry).to_be_focused()
    retry.click()
    expect(page.get_by_role("alert")).to_contain_text(UNREACHABLE)
    assert len(attempts) == 2  # Retry sent the form again


def test_create_with_the_api_down_offers_retry(page: Page, dead_api: DeadApi) -> None:
    page.goto(f"{dead_api.web_url}/create.html")
    expect(page.locator("#form-messages")).to_contain_text(UNREACHABLE)  # who is signed in: unknown
    expect(page.locator("#form-messages")).not_to_contain_text(dead_api.api_url)
    page.get_by_label("Title").fill("Checkout errors")
    page.get_by_label("Service").fill("payments")
    page.get_by_label("Severity").select_option("SEV1")
    page.get_by_role("button", name="Create", exact=True).click()
    alert = page.locator("#form-messages").get_by_role("alert")
    expect(alert).to_contain_text("The incident was not created")
    expect(alert).to_contain_text(UNREACHABLE)
    expect(alert.get_by_role("button", name="Retry")).to_be_visible()
