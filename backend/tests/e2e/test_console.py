"""The detail page as a console: the next lifecycle step in one click (with an optional comment), "Take command",
the edit form on demand (Edit, `e`, Escape, Cancel), each fact once, durations in words with the exact value on
hover, focus after each action, and what a viewer sees."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from playwright.sync_api import Page, Request, expect

from app.models import Incident
from tests.e2e.conftest import ApiAs, ContextAs, CreateIncident
from tests.e2e.helpers import exact_time, js_iso, plain_spaces, timeline

pytestmark = pytest.mark.e2e


def me(api_as: ApiAs, role: str) -> dict[str, Any]:
    body = api_as(role).get("/api/auth/me").json()
    return {"id": body["id"], "display_name": body["display_name"]}


def patches(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if request.method == "PATCH" else None)
    return seen


def open_detail(page: Page, incident: dict[str, Any]) -> None:
    page.goto(f"/detail.html?id={incident['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(incident["title"])
    expect(timeline(page)).not_to_have_count(0)


def shown_commander(page: Page):
    return page.locator('#incident dd span[data-field="commander"]')


def deaf(page: Page) -> None:
    """The live feed answers nothing: the page hears of no one else's change."""
    page.route_web_socket(re.compile(r"/api/live$"), lambda _ws: None)


def step_buttons(page: Page):
    return page.locator("#step-buttons button")


def set_times(engine: sqlalchemy.Engine, incident_id: int, **times: datetime) -> None:
    """Move an incident's lifecycle times (as if it had started earlier)."""
    with engine.begin() as connection:
        connection.execute(sqlalchemy.update(Incident).where(Incident.id == incident_id).values(**times))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Take command ----------------------------------------------------------------------------------------------


def test_take_command_is_one_click_with_if_match(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    incident = create_incident(title="Disk full", service="db")
    responder = me(api_as, "responder")
    open_detail(page, incident)
    commander = shown_commander(page)
    expect(commander).to_have_text("No commander")

    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        page.get_by_role("button", name="Take command").click()

    request = request_info.value
    assert request.post_data_json == {"commander_id": responder["id"]}
    assert request.headers["if-match"] == '"1"'
    expect(commander).to_have_text("Rory Responder")
    expect(page.get_by_role("button", name="Take command")).to_be_hidden()  # already commander
    message = page.locator("#action-messages .alert-success")
    expect(message).to_have_text("You are now the commander.")
    expect(message).to_be_focused()
    expect(timeline(page)).to_have_count(2)
    expect(timeline(page).last.locator('.change[data-field="commander"]')).to_have_text("Commander: — → Rory Responder")
    stored = api_as("viewer").get(f"/api/incidents/{incident['id']}").json()
    assert stored["commander"] == responder


def test_take_command_from_someone_else_and_a_change_by_another_person_shows_live(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    admin = me(api_as, "admin")
    incident = create_incident(title="Slow search", commander_id=admin["id"])
    open_detail(page, incident)
    expect(shown_commander(page)).to_have_text("Ada Admin")
    expect(page.locator("#live-status")).to_have_text("Live")

    viewer = me(api_as, "viewer")
    response = api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"commander_id": viewer["id"]})
    assert response.status_code == 200, response.text

    expect(shown_commander(page)).to_have_text("Vic Viewer")
    expect(timeline(page)).to_have_count(2)
    page.get_by_role("button", name="Take command").click()
    expect(shown_commander(page)).to_have_text("Rory Responder")


def test_a_stale_take_command_goes_again_when_the_other_change_was_elsewhere(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Flaky login")
    deaf(page)  # no live news: the page still shows version 1 when the title changes underneath
    open_detail(page, incident)
    sent = patches(page)
    api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"title": "Flaky login (EU)"})

    page.get_by_role("button", name="Take command").click()

    expect(page.locator("#action-messages .alert-success")).to_have_text("You are now the commander.")
    expect(shown_commander(page)).to_have_text("Rory Responder")
    expect(page.get_by_role("heading", level=1)).to_have_text("Flaky login (EU)")
    assert all(request.post_data_json == {"commander_id": me(api_as, "responder")["id"]} for request in sent)
    stored = api_as("viewer").get(f"/api/incidents/{incident['id']}").json()
    assert (stored["title"], stored["commander"]["display_name"], stored["version"]) == (
        "Flaky login (EU)",
        "Rory Responder",
        3,
    )


# --- Lifecycle steps -------------------------------------------------------------------------------------------


def test_each_status_offers_its_next_steps(page: Page, create_incident: CreateIncident) -> None:
    expected = {"OPEN": ["Mitigate", "Resolve"], "MITIGATED": ["Resolve", "Reopen"], "RESOLVED": ["Reopen"]}
    for status, labels in expected.items():
        incident = create_incident(title=f"At {status}", status=status)
        open_detail(page, incident)
        expect(step_buttons(page)).to_have_text(labels)


@pytest.mark.parametrize(
    ("start", "button", "status", "buttons", "message"),
    [
        ("OPEN", "Mitigate", "MITIGATED", ["Resolve", "Reopen"], "Incident mitigated."),
        ("OPEN", "Resolve", "RESOLVED", ["Reopen"], "Incident resolved."),
        ("MITIGATED", "Resolve", "RESOLVED", ["Reopen"], "Incident resolved."),
        ("MITIGATED", "Reopen", "OPEN", ["Mitigate", "Resolve"], "Incident reopened."),
        ("RESOLVED", "Reopen", "OPEN", ["Mitigate", "Resolve"], "Incident reopened."),
    ],
)
def test_a_step_without_a_comment(
    page: Page,
    create_incident: CreateIncident,
    api_as: ApiAs,
    start: str,
    button: str,
    status: str,
    buttons: list[str],
    message: str,
) -> None:
    incident = create_incident(title=f"From {start}", status=start)
    open_detail(page, incident)

    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        step_buttons(page).filter(has_text=button).click()

    assert request_info.value.post_data_json == {"status": status}
    assert request_info.value.headers["if-match"] == '"1"'
    alert = page.locator("#action-messages .alert-success")
    expect(alert).to_have_text(message)
    expect(alert).to_be_focused()
    labels = {"OPEN": "Open", "MITIGATED": "Mitigated", "RESOLVED": "Resolved"}
    expect(page.locator('[data-field="status-heading"] .badge')).to_have_text(labels[status])
    expect(step_buttons(page)).to_have_text(buttons)
    expect(timeline(page)).to_have_count(2)
    expect(timeline(page).last.locator('.change[data-field="status"]')).to_have_text(
        f"Status: {labels[start]} → {labels[status]}"
    )
    expect(timeline(page).last.locator(".event-note")).to_have_count(0)
    stored = api_as("viewer").get(f"/api/incidents/{incident['id']}").json()
    assert stored["status"] == status
    # The durations follow: a resolved incident is no longer open; a mitigated one took "less than 1 min".
    if stored["mitigated_at"]:
        expect(page.locator('[data-field="time-to-mitigate"]')).to_have_text("less than 1 min")
    else:
        expect(page.locator('[data-field="time-to-mitigate"]')).to_have_text("Not yet")
    if status == "RESOLVED":
        expect(page.locator('[data-field="time-to-resolve"]')).to_have_text("less than 1 min")
        expect(page.locator('[data-field="open-for"]')).to_have_text("No longer open (resolved)")
    else:
        expect(page.locator('[data-field="time-to-resolve"]')).to_have_text("Not yet")
        expect(page.locator('[data-field="open-for"]')).to_have_text("less than 1 min")


def test_a_step_with_a_comment_puts_it_in_the_timeline_with_the_change(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Checkout errors", status="MITIGATED")
    open_detail(page, incident)
    comment = page.get_by_label("Comment")
    comment.fill("  Rolled back the 14:05 deploy.\nErrors gone.  ")

    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        step_buttons(page).filter(has_text="Resolve").click()

    assert request_info.value.post_data_json == {
        "status": "RESOLVED",
        "note": "Rolled back the 14:05 deploy.\nErrors gone.",
    }
    expect(page.locator("#action-messages .alert-success")).to_have_text("Incident resolved.")
    expect(comment).to_have_value("")
    expect(timeline(page)).to_have_count(2)  # one event: the change and its reason
    last = timeline(page).last
    expect(last.locator(".event-summary")).to_contain_text("Rory Responder updated the incident")
    expect(last.locator('.change[data-field="status"]')).to_have_text("Status: Mitigated → Resolved")
    assert last.locator(".event-note").inner_text() == "Rolled back the 14:05 deploy.\nErrors gone."
    # Drawing the incident again (opening the form) writes its facts, not into the timeline's entries.
    page.get_by_role("button", name="Edit", exact=True).click()
    stored = api_as("viewer").get(f"/api/incidents/{incident['id']}").json()
    expect(page.locator('dd[data-field="resolved_at"] time')).to_have_attribute(
        "datetime", js_iso(stored["resolved_at"])
    )
    assert plain_spaces(last.locator('.change[data-field="resolved_at"]').text_content()) == (
        f"Resolved: — → {exact_time(stored['resolved_at'])}"
    )
    events = api_as("viewer").get(f"/api/incidents/{incident['id']}/events").json()["items"]
    assert [(event["action"], event["note"]) for event in events] == [
        ("created", None),
        ("updated", "Rolled back the 14:05 deploy.\nErrors gone."),
    ]


def test_a_step_someone_else_already_took_is_not_sent_again(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Cert expiry")
    deaf(page)
    open_detail(page, incident)
    api_as("admin").patch(f"/api/incidents/{incident['id']}", json={"status": "RESOLVED"})
    page.get_by_label("Comment").fill("Renewed")
    sent = patches(page)

    step_buttons(page).filter(has_text="Mitigate").click()

    warning = page.locator("#action-messages .alert-warning")
    expect(warning).to_have_text(
        "Ada Admin changed the incident in the meantime: it is resolved, with no commander. "
        "Nothing was saved; check it, then choose again."
    )
    expect(warning).to_be_focused()
    expect(page.locator('[data-field="status-heading"] .badge')).to_have_text("Resolved")
    expect(step_buttons(page)).to_have_text(["Reopen"])
    expect(page.get_by_label("Comment")).to_have_value("Renewed")  # kept for the next choice
    assert len(sent) == 1
    assert api_as("viewer").get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"


# --- The edit form on demand -----------------------------------------------------------------------------------


def test_the_edit_form_opens_on_demand_and_closes_with_escape_or_cancel(
    page: Page, create_incident: CreateIncident
) -> None:
    incident = create_incident(title="Cache misses", service="cdn")
    open_detail(page, incident)
    form = page.locator("#incident-form")
    edit = page.get_by_role("button", name="Edit", exact=True)
    expect(form).to_be_hidden()
    expect(edit).to_have_attribute("aria-expanded", "false")

    edit.click()
    expect(form).to_be_visible()
    expect(page.get_by_label("Title")).to_be_focused()  # the first field
    expect(edit).to_have_attribute("aria-expanded", "true")
    page.get_by_label("Title").fill("Changed, then dropped")
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(edit).to_be_focused()

    page.keyboard.press("e")  # the shortcut (focus is on a button, not in a field)
    expect(form).to_be_visible()
    expect(page.get_by_label("Title")).to_be_focused()
    expect(page.get_by_label("Title")).to_have_value("Cache misses")  # what was dropped is gone
    page.keyboard.press("e")  # typing in a field: no shortcut
    expect(page.get_by_label("Title")).to_have_value("Cache missese")
    page.get_by_role("button", name="Cancel").click()
    expect(form).to_be_hidden()
    expect(edit).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cache misses")


def test_the_shortcut_is_listed(page: Page, create_incident: CreateIncident) -> None:
    open_detail(page, create_incident(title="Listed"))
    page.locator("body").press("?")
    expect(page.locator("#shortcuts-list")).to_contain_text("eEdit the incident")


def test_the_commander_select_changes_and_clears_the_commander(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    viewer = me(api_as, "viewer")
    responder = me(api_as, "responder")
    incident = create_incident(title="Hand over")
    open_detail(page, incident)
    page.get_by_role("button", name="Edit", exact=True).click()
    select = page.get_by_label("Commander")
    expect(select.locator("option")).to_have_text(["No commander", "Me (Rory Responder)", "Ada Admin", "Vic Viewer"])
    expect(select).to_have_value("")

    select.select_option(label="Vic Viewer")
    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        page.get_by_role("button", name="Save").click()
    assert request_info.value.post_data_json == {"commander_id": viewer["id"]}
    expect(shown_commander(page)).to_have_text("Vic Viewer")

    select.select_option("")
    with page.expect_request(lambda request: request.method == "PATCH") as request_info:
        page.get_by_role("button", name="Save").click()
    assert request_info.value.post_data_json == {"commander_id": None}
    expect(shown_commander(page)).to_have_text("No commander")
    select.select_option(str(responder["id"]))
    expect(select.locator("option:checked")).to_have_text("Me (Rory Responder)")


def test_the_severity_definition_follows_the_choice_and_is_the_badges_tooltip(
    page: Page, create_incident: CreateIncident
) -> None:
    incident = create_incident(title="Meaning", severity="SEV2")
    open_detail(page, incident)
    badge = page.locator('[data-field="severity-heading"] .badge')
    expect(badge).to_have_attribute(
        "title", "SEV2 · Major: A major feature is broken or badly degraded for many customers, with no workaround."
    )
    page.get_by_role("button", name="Edit", exact=True).click()
    help_text = page.locator("#severity-help")
    expect(help_text).to_have_text(
        "SEV2 · Major: A major feature is broken or badly degraded for many customers, with no workaround."
    )
    page.get_by_label("Severity").select_option("SEV1")
    expect(help_text).to_have_text(
        "SEV1 · Critical: A core service is down or data is being lost for many customers. Page everyone; work it now."
    )
    expect(page.get_by_label("Severity")).to_have_attribute("aria-describedby", "severity-help severity-feedback")


# --- Each fact once ------------------------------------------------------------------------------------------


def test_each_fact_appears_once(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    viewer = me(api_as, "viewer")
    incident = create_incident(
        as_role="admin", title="Zebra-unique title", service="okapi-svc", severity="SEV2", commander_id=viewer["id"]
    )
    updated = api_as("responder").patch(f"/api/incidents/{incident['id']}", json={"description": "Quagga notes"})
    assert updated.status_code == 200
    updated = updated.json()
    open_detail(page, updated)
    expect(timeline(page)).to_have_count(2)

    def outside_timeline(text: str) -> int:
        return page.evaluate(
            """(text) => {
                const count = (node) => node.innerText.split(text).length - 1;
                return count(document.querySelector("main")) - count(document.querySelector("#timeline"));
            }""",
            text,
        )

    for text in (
        "Zebra-unique title",
        "okapi-svc",
        "SEV2",
        "Vic Viewer",
        "Ada Admin",
        "Quagga notes",
        f"#{incident['id']}",
    ):
        assert outside_timeline(text) == 1, text
    assert outside_timeline("Rory Responder") == 1  # updated by (the navbar's user menu is outside <main>)
    assert page.locator("main .status-badge:visible").count() == 1
    assert page.locator("main .severity-badge:visible").count() - page.locator("#timeline .severity-badge").count() == 1
    for name in ("created_at", "updated_at"):
        stamp = js_iso(updated[name])
        shown = page.locator(f'main time[datetime="{stamp}"]:visible').count()
        in_timeline = page.locator(f'#timeline time[datetime="{stamp}"]:visible').count()
        assert shown - in_timeline == 1, name
    created = page.locator('dd[data-field="created_at"] time')
    assert plain_spaces(created.text_content()) == f"{exact_time(updated['created_at'])} (just now)"


# --- Durations -------------------------------------------------------------------------------------------------


def test_durations_in_words_with_the_exact_value_on_hover(
    page: Page, create_incident: CreateIncident, e2e_engine: sqlalchemy.Engine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    created = now - timedelta(hours=2, minutes=14, seconds=30)
    mitigated = created + timedelta(hours=1, minutes=5, seconds=10)
    incident = create_incident(title="Still burning", status="MITIGATED")
    set_times(e2e_engine, incident["id"], created_at=created, mitigated_at=mitigated)
    page.clock.install(time=now)  # so that the minute ticks on demand
    open_detail(page, incident)

    to_mitigate = page.locator('[data-field="time-to-mitigate"] time')
    expect(to_mitigate).to_have_text("1 h 5 min")
    expect(to_mitigate).to_have_attribute("datetime", "PT1H5M10S")
    from_to = f"from {exact_time(iso(created))} to {exact_time(iso(mitigated))}"
    assert plain_spaces(to_mitigate.get_attribute("title")) == f"1 h 5 min 10 s: {from_to}"
    expect(page.locator('[data-field="time-to-resolve"]')).to_have_text("Not yet")
    open_for = page.locator('[data-field="open-for"] time')
    expect(open_for).to_have_text("2 h 14 min")
    expect(open_for).to_have_attribute("datetime", re.compile(r"^PT2H14M3\dS$"))
    assert plain_spaces(open_for.get_attribute("title")).startswith("2 h 14 min 3")
    assert plain_spaces(open_for.get_attribute("title")).endswith(f"s: since {exact_time(iso(created))}")

    page.clock.fast_forward("01:00")  # a minute later, without a reload
    expect(page.locator('[data-field="open-for"] time')).to_have_text("2 h 15 min")


def test_days_and_hours_once_resolved(
    page: Page, create_incident: CreateIncident, e2e_engine: sqlalchemy.Engine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    created = now - timedelta(days=5)
    mitigated = created + timedelta(minutes=42)
    resolved = created + timedelta(days=3, hours=4, minutes=20)
    incident = create_incident(title="Long one", status="RESOLVED")
    set_times(e2e_engine, incident["id"], created_at=created, mitigated_at=mitigated, resolved_at=resolved)
    open_detail(page, incident)

    expect(page.locator('[data-field="time-to-mitigate"] time')).to_have_text("42 min")
    expect(page.locator('[data-field="time-to-mitigate"] time')).to_have_attribute("datetime", "PT42M")
    expect(page.locator('[data-field="time-to-resolve"] time')).to_have_text("3 d 4 h")
    expect(page.locator('[data-field="time-to-resolve"] time')).to_have_attribute("datetime", "P3DT4H20M")
    expect(page.locator('[data-field="open-for"]')).to_have_text("No longer open (resolved)")


# --- Roles -------------------------------------------------------------------------------------------------------


@pytest.mark.role("viewer")
def test_a_viewer_sees_the_commander_but_no_buttons(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    admin = me(api_as, "admin")
    incident = create_incident(title="Read only", commander_id=admin["id"])
    open_detail(page, incident)

    expect(shown_commander(page)).to_have_text("Ada Admin")
    expect(page.locator("#console")).to_be_hidden()
    expect(page.get_by_role("button", name="Take command")).to_be_hidden()
    expect(page.get_by_role("button", name="Edit", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Mitigate")).to_have_count(0)
    page.locator("body").press("e")
    expect(page.locator("#incident-form")).to_be_hidden()
    assert page.locator("main button:visible").count() == 0


def test_an_admin_on_an_archived_incident_gets_no_console(
    context_as: ContextAs, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    incident = create_incident(title="Old news")
    assert api_as("admin").delete(f"/api/incidents/{incident['id']}").status_code == 200
    page = context_as("admin").new_page()
    page.goto(f"/detail.html?id={incident['id']}&archived=1")
    expect(page.locator("#archived-banner")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    expect(page.get_by_role("button", name="Take command")).to_be_hidden()
