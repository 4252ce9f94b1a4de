"""The "New incident" form (create.html): client-side validation, success, server-side 422 on the fields, and one
incident however often the same form is sent (its Idempotency-Key)."""

import re

import httpx
import pytest
from playwright.sync_api import Page, Request, Response, Route, expect

from tests.e2e.conftest import ApiAs

pytestmark = pytest.mark.e2e

TITLE_HINT = "Enter a title (up to 200 characters)."


def is_post(message: Request | Response) -> bool:
    request = message if isinstance(message, Request) else message.request
    return request.method == "POST" and "/api/incidents" in request.url


def test_empty_submit_shows_feedback_and_sends_nothing(page: Page) -> None:
    posts: list[Request] = []
    page.on("request", lambda request: posts.append(request) if is_post(request) else None)
    page.goto("/create.html")
    expect(page).to_have_title("New incident · Incident Tracker")
    expect(page.get_by_label("Status")).to_have_value("OPEN")

    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.locator("#incident-form")).to_have_class(re.compile(r"\bwas-validated\b"))
    expect(page.locator("#title-feedback")).to_be_visible()
    expect(page.locator("#title-feedback")).to_have_text(TITLE_HINT)
    expect(page.locator("#service-feedback")).to_be_visible()
    expect(page.locator("#severity-feedback")).to_be_visible()
    expect(page.locator("#status-feedback")).to_be_hidden()  # OPEN is chosen by default
    expect(page.get_by_label("Title")).to_be_focused()

    page.get_by_label("Title").fill("   ")  # blank is not a title
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#title-feedback")).to_be_visible()

    page.wait_for_timeout(300)  # give a wrong request time to show up
    assert posts == []
    expect(page).to_have_url(re.compile(r"/create\.html$"))


def test_create_goes_to_the_new_incident(page: Page, api_client: httpx.Client) -> None:
    page.goto("/create.html")
    page.get_by_label("Title").fill("  Checkout errors  ")
    page.get_by_label("Service").fill("payments")
    page.get_by_label("Severity").select_option("SEV2")
    page.get_by_label("Description").fill("5xx on /checkout\nsince 14:05")

    with page.expect_response(is_post) as response_info:
        page.get_by_role("button", name="Create", exact=True).click()

    response = response_info.value
    assert response.status == 201
    assert response.request.post_data_json == {
        "title": "Checkout errors",
        "service": "payments",
        "severity": "SEV2",
        "status": "OPEN",
        "description": "5xx on /checkout\nsince 14:05",
    }
    [created] = api_client.get("/api/incidents/").json()["items"]  # the body is gone once the page moved on
    expect(page).to_have_url(re.compile(rf"/detail\.html\?id={created['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout errors")
    expect(page.locator("#page-messages")).to_have_text(f"Incident #{created['id']} created.")
    expect(page.get_by_role("heading", level=1)).to_be_focused()  # not the body
    assert (created["title"], created["severity"], created["status"]) == ("Checkout errors", "SEV2", "OPEN")
    assert created["commander"] is None  # none unless chosen
    expect(page.locator('#incident dd span[data-field="commander"]')).to_have_text("No commander")


def test_the_commander_is_optional_with_me_one_click_away(page: Page, api_as: ApiAs) -> None:
    me = api_as("responder").get("/api/auth/me").json()
    page.goto("/create.html")
    select = page.get_by_label("Commander")
    expect(select).to_have_value("")
    expect(select.locator("option")).to_have_text(["No commander", "Me (Rory Responder)", "Ada Admin", "Vic Viewer"])
    page.get_by_label("Title").fill("Owned from the start")
    page.get_by_label("Service").fill("api")
    page.get_by_label("Severity").select_option("SEV3")

    page.get_by_role("button", name="Me", exact=True).click()
    expect(select).to_have_value(str(me["id"]))
    with page.expect_request(is_post) as request_info:
        page.get_by_role("button", name="Create", exact=True).click()

    assert request_info.value.post_data_json["commander_id"] == me["id"]
    expect(page.locator('#incident dd span[data-field="commander"]')).to_have_text("Rory Responder")
    expect(page.get_by_role("button", name="Take command")).to_be_hidden()

    page.goto("/create.html")
    page.get_by_label("Title").fill("Handed to a viewer")
    page.get_by_label("Service").fill("api")
    page.get_by_label("Severity").select_option("SEV4")
    page.get_by_label("Commander").select_option(label="Vic Viewer")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator('#incident dd span[data-field="commander"]')).to_have_text("Vic Viewer")


def test_the_severity_definition_follows_the_choice(page: Page) -> None:
    page.goto("/create.html")
    help_text = page.locator("#severity-help")
    expect(help_text).to_have_text("Choose a severity to see what it means.")
    page.get_by_label("Severity").select_option("SEV4")
    expect(help_text).to_have_text(
        "SEV4 · Low: A cosmetic or internal problem with little or no customer impact. Fix in working hours."
    )
    expect(page.get_by_label("Severity")).to_have_attribute("aria-describedby", "severity-help severity-feedback")


def test_server_validation_error_lands_on_the_field(page: Page) -> None:
    page.goto("/create.html")
    page.get_by_label("Title").fill("Bell\u0007 in the title")  # a control character: only the API checks those
    page.get_by_label("Service").fill("payments")
    page.get_by_label("Severity").select_option("SEV3")

    with page.expect_response(is_post) as response_info:
        page.get_by_role("button", name="Create", exact=True).click()

    response = response_info.value
    assert response.status == 422
    problem = response.json()
    [title_error] = [error for error in problem["errors"] if error["loc"] == ["body", "title"]]
    assert title_error["type"] == "string_control_character"
    title = page.get_by_label("Title")
    expect(title).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#title-feedback")).to_be_visible()
    expect(page.locator("#title-feedback")).to_have_text(
        "Title contains an invisible or control character. Remove it (retyping the text helps)."
    )
    expect(page.get_by_label("Service")).not_to_have_class(re.compile(r"\bis-invalid\b"))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The incident was not created")
    expect(alert).to_contain_text("Check the marked field.")
    expect(alert).not_to_contain_text("body.title")
    expect(title).to_be_focused()
    expect(page).to_have_url(re.compile(r"/create\.html$"))

    title.fill("A fine title")  # editing the field clears the server's mark
    expect(title).not_to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#title-feedback")).to_have_text(TITLE_HINT)


def test_a_create_sent_again_makes_one_incident(page: Page, api_client: httpx.Client) -> None:
    posts: list[Request] = []

    def lose_the_first_answer(route: Route) -> None:
        posts.append(route.request)
        if len(posts) == 1:
            route.fetch()  # the API makes the incident...
            route.abort("connectionreset")  # ...and the answer never arrives
        else:
            route.continue_()

    page.route(
        re.compile(r"/api/incidents/$"),
        lambda route: lose_the_first_answer(route) if route.request.method == "POST" else route.continue_(),
    )
    page.goto("/create.html")
    page.get_by_label("Title").fill("Billing export stuck")
    page.get_by_label("Service").fill("billing")
    page.get_by_label("Severity").select_option("SEV2")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#form-messages .alert-danger")).to_contain_text("Cannot reach the Incident Tracker server")

    page.get_by_role("button", name="Create", exact=True).click()  # the person tries again
    expect(page).to_have_url(re.compile(r"/detail\.html\?id=\d+$"))

    keys = [request.headers.get("idempotency-key") for request in posts]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    listed = api_client.get("/api/incidents/").json()
    assert [item["title"] for item in listed["items"]] == ["Billing export stuck"]


def test_a_changed_form_is_a_new_create(page: Page) -> None:
    keys: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            keys.append(r.headers.get("idempotency-key")) if r.method == "POST" and "/api/incidents/" in r.url else None
        ),
    )
    page.route(
        re.compile(r"/api/incidents/$"),
        lambda route: route.abort("connectionreset") if route.request.method == "POST" else route.continue_(),
    )
    page.goto("/create.html")
    page.get_by_label("Title").fill("First try")
    page.get_by_label("Service").fill("api")
    page.get_by_label("Severity").select_option("SEV4")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#form-messages .alert-danger")).to_be_visible()
    page.get_by_label("Title").fill("Second try")
    with page.expect_request(lambda r: r.method == "POST" and "/api/incidents/" in r.url):
        page.get_by_role("button", name="Create", exact=True).click()
    assert len(keys) == 2 and keys[0] and keys[1] and keys[0] != keys[1]
