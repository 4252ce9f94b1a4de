"""The incident list as a triage board: the named views (Active by default), the commander, age and updated columns,
the commander filter, the phone's cards and filters button, the keyboard, focus after a change, the export of the
view shown."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy
from playwright.sync_api import BrowserContext, Page, Request, expect

from app.models import Incident
from tests.e2e.conftest import ApiAs, CreateIncident
from tests.e2e.helpers import exact_time, js_iso, plain_spaces
from tests.e2e.test_export import download_rows, listed_ids
from tests.e2e.test_list import layout_shift_while_loading

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def titles(page: Page):
    return page.locator("#rows .incident-link")


def list_requests(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if "/api/incidents/?" in r.url else None)
    return seen


def backdate(engine: sqlalchemy.Engine, incident: dict, *, created: datetime, resolved: datetime | None = None) -> None:
    """Move an incident's creation (and resolution) time into the past, as if it had been reported then."""
    values: dict = {"created_at": created}
    if resolved is not None:
        values["resolved_at"] = resolved
    with engine.begin() as connection:
        connection.execute(sqlalchemy.update(Incident).where(Incident.id == incident["id"]).values(**values))


def user_id(api_as: ApiAs, role: str) -> int:
    return api_as(role).get("/api/auth/me").json()["id"]


def current_view(page: Page):
    return page.locator('#views [aria-current="page"]')


# --- the default view -------------------------------------------------------------------------------------------


def test_the_default_view_is_active_most_severe_first_then_oldest(
    page: Page, create_incident: CreateIncident, e2e_engine: sqlalchemy.Engine
) -> None:
    now = datetime.now(UTC)
    old_sev1 = create_incident(title="Four-day-old outage", severity="SEV1")
    backdate(e2e_engine, old_sev1, created=now - timedelta(days=4, hours=3))
    create_incident(title="Fixed long ago", severity="SEV1", status="RESOLVED")
    create_incident(title="Slow pages", severity="SEV2", status="MITIGATED")
    create_incident(title="Fresh typo", severity="SEV4")
    create_incident(title="Second outage", severity="SEV1")
    requests = list_requests(page)

    page.goto("/index.html")

    # Resolved is not shown; SEV1 before SEV2 before SEV4; the two SEV1s oldest first.
    expect(titles(page)).to_have_text(["Four-day-old outage", "Second outage", "Slow pages", "Fresh typo"])
    expect(page).to_have_url(re.compile(r"/index\.html$"))  # the bare page is the Active view
    expect(current_view(page)).to_have_text("Active")
    expect(page.locator("#results-heading")).to_have_text("Active incidents")
    expect(page.locator("th[data-sort=severity]")).to_have_attribute("aria-sort", "ascending")
    expect(page.get_by_label("Open", exact=True)).to_be_checked()
    expect(page.get_by_label("Mitigated", exact=True)).to_be_checked()
    expect(page.get_by_label("Resolved", exact=True)).not_to_be_checked()
    query = parse_qs(urlsplit(requests[-1].url).query)
    assert query["status"] == ["OPEN", "MITIGATED"]
    assert (query["sort_by"], query["sort_order"]) == (["severity"], ["asc"])
    expect(page.locator("#rows tr").first.locator(".col-age")).to_have_text("open for 4 d 3 h")
    expect(page.locator("#summary")).to_have_text("Showing 1-4 of 4")


def test_the_api_breaks_severity_ties_by_id_oldest_first(create_incident: CreateIncident, api_as: ApiAs) -> None:
    first, second, third = (create_incident(title=f"SEV2 number {n}", severity="SEV2") for n in range(3))
    create_incident(title="A SEV1", severity="SEV1")

    ascending = listed_ids(api_as("viewer"), status=["OPEN", "MITIGATED"], sort_by="severity", sort_order="asc")

    assert ascending[1:] == [first["id"], second["id"], third["id"]]  # ids grow with creation time
    assert [first["created_at"], second["created_at"]] == sorted([first["created_at"], second["created_at"]])


# --- views and the URL ------------------------------------------------------------------------------------------


def test_views_are_one_click_away_and_kept_in_the_url(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Still open", severity="SEV3")
    create_incident(title="All done", severity="SEV2", status="RESOLVED")
    page.goto("/index.html")
    expect(titles(page)).to_have_text(["Still open"])

    page.locator("#views").get_by_role("link", name="All").click()

    expect(page).to_have_url(re.compile(r"/index\.html\?view=all$"))
    expect(titles(page)).to_have_text(["All done", "Still open"])  # newest first
    expect(current_view(page)).to_have_text("All")
    expect(page.locator("#views [aria-current]")).to_have_count(1)
    # Focus lands on the first row, not on the page body.
    expect(page.locator("#rows tr").first.locator(".incident-link")).to_be_focused()

    page.locator("#views").get_by_role("link", name="Resolved").click()
    expect(page).to_have_url(re.compile(r"/index\.html\?view=resolved$"))
    expect(titles(page)).to_have_text(["All done"])
    expect(page.locator("#results-heading")).to_have_text("Resolved incidents")

    # A status picked by hand: the view becomes Custom, and the address spells out what it shows.
    page.locator("#status-filter").get_by_text("Open", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?view=custom&status=OPEN&status=RESOLVED$"))
    expect(current_view(page)).to_have_text("Custom")
    expect(titles(page)).to_have_text(["All done", "Still open"])
    expect(page.get_by_role("button", name=re.compile("^Filters"))).to_be_hidden()  # wide screen: no button

    page.reload()
    expect(current_view(page)).to_have_text("Custom")
    expect(titles(page)).to_have_text(["All done", "Still open"])

    page.go_back()
    expect(current_view(page)).to_have_text("Resolved")
    expect(titles(page)).to_have_text(["All done"])
    page.go_back()
    expect(current_view(page)).to_have_text("All")
    page.go_back()
    expect(current_view(page)).to_have_text("Active")
    expect(titles(page)).to_have_text(["Still open"])

    # Sorting by hand in a named view is a custom view of the same statuses.
    page.locator("th[data-sort=title] button").click()
    expect(page).to_have_url(re.compile(r"\?view=custom&status=OPEN&status=MITIGATED&sort_by=title&sort_order=asc$"))
    expect(current_view(page)).to_have_text("Custom")
    page.locator("#views").get_by_role("link", name="Active").click()
    expect(page).to_have_url(re.compile(r"/index\.html$"))


def test_a_view_keeps_the_other_filters(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="db open", severity="SEV1")
    create_incident(title="db resolved", severity="SEV1", status="RESOLVED")
    create_incident(title="web resolved", severity="SEV1", status="RESOLVED")
    page.goto("/index.html?search=db")
    expect(titles(page)).to_have_text(["db open"])

    page.locator("#views").get_by_role("link", name="Resolved").click()

    expect(page).to_have_url(re.compile(r"\?view=resolved&search=db$"))
    expect(titles(page)).to_have_text(["db resolved"])
    expect(page.get_by_label("Search", exact=True)).to_have_value("db")


def test_back_to_incidents_returns_to_the_view(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Old news", status="RESOLVED")
    page.goto("/index.html?view=resolved")
    titles(page).first.click()
    expect(page).to_have_url(re.compile(rf"/detail\.html\?id={incident['id']}$"))

    page.get_by_role("link", name="Back to incidents").first.click()

    expect(page).to_have_url(re.compile(r"/index\.html\?view=resolved$"))
    expect(current_view(page)).to_have_text("Resolved")
    expect(titles(page)).to_have_text(["Old news"])


def test_an_empty_active_view_offers_all_incidents(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Closed", status="RESOLVED")
    page.goto("/index.html")

    empty = page.locator(".empty-state")
    expect(empty).to_contain_text("No active incidents")
    expect(empty).to_contain_text("Nothing is open or mitigated right now.")
    empty.get_by_role("link", name="Show all incidents").click()
    expect(titles(page)).to_have_text(["Closed"])
    expect(page).to_have_url(re.compile(r"\?view=all$"))


@pytest.mark.role("admin")
def test_the_archive_opens_on_all(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    gone = create_incident(title="Archived and resolved", status="RESOLVED")
    assert api_as("admin").delete(f"/api/incidents/{gone['id']}").status_code == 200
    create_incident(title="Live one")
    page.goto("/index.html")
    expect(titles(page)).to_have_text(["Live one"])

    page.get_by_label("Show archived").check()

    expect(page).to_have_url(re.compile(r"/index\.html\?archived=true$"))
    expect(titles(page)).to_have_text(["Archived and resolved"])  # resolved too: the archive is All
    expect(current_view(page)).to_have_text("All")
    page.locator("#views").get_by_role("link", name="Active").click()
    expect(page).to_have_url(re.compile(r"\?view=active&archived=true$"))
    expect(page.locator(".empty-state")).to_be_visible()

    page.get_by_label("Show archived").uncheck()
    expect(page).to_have_url(re.compile(r"/index\.html$"))
    expect(current_view(page)).to_have_text("Active")
    expect(titles(page)).to_have_text(["Live one"])


# --- columns ------------------------------------------------------------------------------------------------------


def test_commander_age_and_updated_columns(
    page: Page, create_incident: CreateIncident, api_as: ApiAs, e2e_engine: sqlalchemy.Engine
) -> None:
    now = datetime.now(UTC)
    owned = create_incident(title="Owned", severity="SEV1", commander_id=user_id(api_as, "admin"))
    backdate(e2e_engine, owned, created=now - timedelta(days=3, hours=4, minutes=10))
    loose = create_incident(title="Nobody's", severity="SEV2", status="MITIGATED")
    backdate(e2e_engine, loose, created=now - timedelta(minutes=42, seconds=30))
    closed = create_incident(title="Closed", severity="SEV3", status="RESOLVED")
    created, resolved = now - timedelta(hours=5, minutes=20), now - timedelta(hours=3)
    backdate(e2e_engine, closed, created=created, resolved=resolved)

    page.goto("/index.html?view=all&sort_by=severity&sort_order=asc")

    expect(titles(page)).to_have_text(["Owned", "Nobody's", "Closed"])
    rows = page.locator("#rows tr")
    expect(rows.locator(".col-commander")).to_have_text(
        ["Commander: Ada Admin", "Commander: Unassigned", "Commander: Unassigned"]
    )
    expect(rows.locator(".col-age")).to_have_text(["open for 3 d 4 h", "open for 42 min", "resolved in 2 h 20 min"])
    stored = api_as("viewer").get(f"/api/incidents/{closed['id']}").json()
    age = rows.nth(2).locator(".col-age time")
    expect(age).to_have_attribute("datetime", js_iso(stored["created_at"]))
    assert plain_spaces(age.get_attribute("title")) == (
        f"Resolved in 2 hours 20 minutes: opened {exact_time(stored['created_at'])}, "
        f"resolved {exact_time(stored['resolved_at'])}"
    )
    first_age = rows.nth(0).locator(".col-age time")
    assert plain_spaces(first_age.get_attribute("title")).startswith("Open for 3 days 4 hours: opened ")
    updated = rows.nth(0).locator(".col-updated time")
    expect(updated).to_have_text("just now")
    expect(updated).to_have_attribute("datetime", js_iso(owned["updated_at"]))
    assert plain_spaces(updated.get_attribute("title")) == exact_time(owned["updated_at"])


def test_commander_sorts_and_severity_badges_say_what_they_mean(
    page: Page, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    create_incident(title="Owned", severity="SEV1", commander_id=user_id(api_as, "responder"))
    create_incident(title="Loose", severity="SEV4")
    page.goto("/index.html")

    page.locator("th[data-sort=commander] button").click()

    expect(page).to_have_url(re.compile(r"sort_by=commander&sort_order=asc"))
    expect(titles(page)).to_have_text(["Loose", "Owned"])  # no commander first ascending
    badge = page.locator("#rows tr").nth(1).locator(".severity-badge")
    expect(badge).to_have_attribute(
        "title", "SEV1 · Critical: A core service is down or data is being lost for many customers. "
        "Page everyone; work it now.",
    )  # fmt: skip
    expect(badge.locator(".severity-label")).to_have_text("Critical")
    expect(badge.locator(".bi-fire")).to_have_count(1)
    expect(badge.locator(".visually-hidden")).to_have_text(
        ": A core service is down or data is being lost for many customers. Page everyone; work it now."
    )
    size = badge.evaluate("node => parseFloat(getComputedStyle(node).fontSize)")
    title_size = titles(page).first.evaluate("node => parseFloat(getComputedStyle(node).fontSize)")
    assert size >= 14 and size <= title_size
    title_weight = titles(page).first.evaluate("node => Number(getComputedStyle(node).fontWeight)")
    assert badge.evaluate("node => Number(getComputedStyle(node).fontWeight)") > title_weight


def test_mine_and_unassigned_are_one_click_away(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    create_incident(title="Mine", commander_id=user_id(api_as, "responder"))
    create_incident(title="Admin's", commander_id=user_id(api_as, "admin"))
    create_incident(title="Nobody's")
    page.goto("/index.html")
    expect(titles(page)).to_have_count(3)
    requests = list_requests(page)

    page.locator("#commander-filter").get_by_text("Mine", exact=True).click()

    expect(titles(page)).to_have_text(["Mine"])
    expect(page).to_have_url(re.compile(r"/index\.html\?commander=me$"))
    assert parse_qs(urlsplit(requests[-1].url).query)["commander"] == ["me"]
    expect(page.get_by_label("Mine", exact=True)).to_be_checked()

    page.locator("#commander-filter").get_by_text("Unassigned", exact=True).click()
    expect(titles(page)).to_have_text(["Nobody's"])
    expect(page).to_have_url(re.compile(r"/index\.html\?commander=none$"))

    page.locator("#filters").get_by_role("button", name="Clear filters").click()
    expect(titles(page)).to_have_count(3)
    expect(page).to_have_url(re.compile(r"/index\.html$"))
    expect(page.get_by_label("Anyone", exact=True)).to_be_checked()

    # A commander named by id (a shared link): shown by name as a fourth choice.
    page.goto(f"/index.html?commander={user_id(api_as, 'admin')}")
    expect(titles(page)).to_have_text(["Admin's"])
    expect(page.locator("#commander-user-label")).to_have_text("Ada Admin")
    expect(page.locator("#commander-user")).to_be_checked()


# --- the phone ----------------------------------------------------------------------------------------------------


def test_phone_cards_fit_the_screen(page: Page, create_incident: CreateIncident, api_as: ApiAs) -> None:
    page.set_viewport_size(PHONE)
    long_title = "Checkout API returns 502 for every card payment in every region since the deploy " * 2
    create_incident(title=long_title.strip()[:200], service="payments-gateway-eu-west", severity="SEV1",
                    commander_id=user_id(api_as, "responder"))  # fmt: skip
    create_incident(title="Slow search", service="search", severity="SEV3", status="MITIGATED")
    page.goto("/index.html")
    expect(titles(page)).to_have_count(2)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    card = page.locator("#rows tr").first
    for part in (".col-title", ".col-severity", ".col-status", ".col-service", ".col-age", ".col-commander"):
        cell = card.locator(part)
        expect(cell).to_be_visible()
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (part, box)
    expect(card.locator(".col-commander")).to_contain_text("Rory Responder")
    expect(card.locator(".col-age")).to_have_text("open for < 1 min")
    expect(page.locator("#incidents thead")).to_be_hidden()
    heights = page.locator("#rows tr").evaluate_all("rows => rows.map((row) => row.getBoundingClientRect().height)")
    assert len(set(heights)) == 1, heights  # one height: nothing moves when rows arrive

    # The filters wait behind a button, which counts the filters that are on.
    toggle = page.get_by_role("button", name=re.compile("^Filters"))
    expect(toggle).to_have_text("Filters")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#filters")).to_be_hidden()
    toggle.click()
    expect(page.locator("#filters")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.locator("#severity-filter").get_by_text("SEV1", exact=True).click()
    expect(toggle).to_have_text("Filters (1)")
    page.locator("#commander-filter").get_by_text("Mine", exact=True).click()
    expect(toggle).to_have_text("Filters (2)")
    expect(toggle).to_have_attribute("aria-label", "Filters, 2 on")
    expect(titles(page)).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.goto("/index.html?search=slow&status=OPEN")  # a status by hand counts too (custom view)
    expect(page.get_by_role("button", name=re.compile("^Filters"))).to_have_text("Filters (2)")


@pytest.mark.parametrize("query", ["", "?page=2"])
def test_the_phone_layout_does_not_jump_when_the_rows_arrive(
    page: Page, create_incident: CreateIncident, query: str
) -> None:
    page.set_viewport_size(PHONE)
    for n in range(25):
        create_incident(title=f"Incident number {n} with a title long enough to need some room", service=f"svc-{n}")

    shift, shifts = layout_shift_while_loading(page, f"/index.html{query}")

    print(f"phone cumulative layout shift {query or '(first page)'}: {shift:.4f}")
    assert shift < 0.01, shifts


# --- keyboard and focus -------------------------------------------------------------------------------------------


def test_keyboard_search_move_and_open(page: Page, create_incident: CreateIncident) -> None:
    first = create_incident(title="Alpha", severity="SEV1")
    create_incident(title="Bravo", severity="SEV2")
    create_incident(title="Charlie", severity="SEV3")
    page.goto("/index.html")
    expect(titles(page)).to_have_text(["Alpha", "Bravo", "Charlie"])
    rows = page.locator("#rows tr")

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(rows.nth(0).locator(".incident-link")).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last row
    expect(rows.nth(2)).to_have_class(re.compile(r"\bis-selected\b"))
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page.locator("#rows tr.is-selected")).to_have_count(1)
    expect(rows.nth(1).locator(".incident-link")).to_be_focused()

    # "/" focuses the search; keys typed there are text, not shortcuts.
    page.keyboard.press("/")
    search = page.get_by_label("Search", exact=True)
    expect(search).to_be_focused()
    page.keyboard.type("jk/n")
    expect(search).to_have_value("jk/n")  # typed, not run: no move, no new-incident page
    expect(page).to_have_url(re.compile(r"/index\.html\?search=jk%2Fn$"))
    expect(page.locator(".empty-state")).to_be_visible()
    search.fill("")
    search.press("Enter")
    expect(titles(page)).to_have_count(3)

    page.locator("#results-heading").focus()  # out of the field: the keys work again
    page.keyboard.press("k")  # no selection yet: the first row
    expect(rows.nth(0).locator(".incident-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/detail\.html\?id={first['id']}$"))


def test_enter_on_a_selected_row_opens_it(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Alpha", severity="SEV1")
    second = create_incident(title="Bravo", severity="SEV2")
    page.goto("/index.html")
    expect(titles(page)).to_have_count(2)

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/detail\.html\?id={second['id']}$"))


def test_enter_still_works_on_links_and_buttons(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Alpha", status="RESOLVED")
    page.goto("/index.html")
    expect(page.locator(".empty-state")).to_be_visible()

    page.locator("#views").get_by_role("link", name="All").focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"\?view=all$"))
    expect(titles(page)).to_have_text(["Alpha"])
    page.locator("th[data-sort=title] button").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?view=custom&sort_by=title&sort_order=asc$"))


def test_n_opens_the_new_incident_form(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Alpha")
    page.goto("/index.html")
    expect(page.get_by_role("link", name="New incident")).to_be_visible()

    page.keyboard.press("n")

    expect(page).to_have_url(re.compile(r"/create\.html$"))


@pytest.mark.role("viewer")
def test_n_does_nothing_for_a_viewer(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Alpha")
    page.goto("/index.html")
    expect(titles(page)).to_have_count(1)
    expect(page.locator("#user-menu")).to_contain_text("Vic Viewer")

    page.keyboard.press("n")
    page.keyboard.press("?")

    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog.locator("dt")).to_have_text(["?", "/", "j", "k", "Enter"])
    expect(page).to_have_url(re.compile(r"/index\.html$"))


def test_the_shortcuts_dialog_lists_the_list_keys(page: Page, create_incident: CreateIncident) -> None:
    create_incident(title="Alpha")
    page.goto("/index.html")
    expect(page.get_by_role("link", name="New incident")).to_be_visible()

    page.keyboard.press("?")

    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog.locator("dt")).to_have_text(["?", "/", "j", "k", "Enter", "n"])
    expect(dialog.locator("dd")).to_have_text(
        [
            "Show these shortcuts",
            "Search",
            "Next incident in the list",
            "Previous incident in the list",
            "Open the selected incident",
            "New incident",
        ]
    )


def test_focus_after_paging_is_on_the_first_row(page: Page, create_incident: CreateIncident) -> None:
    for n in range(12):
        create_incident(title=f"Incident {n:02d}")
    page.goto("/index.html?limit=10")
    expect(titles(page)).to_have_count(10)

    page.get_by_role("link", name="Next page").click()

    expect(titles(page)).to_have_text(["Incident 10", "Incident 11"])  # Active: oldest first
    expect(titles(page).first).to_be_focused()
    expect(page.locator("#rows tr").first).to_have_class(re.compile(r"\bis-selected\b"))

    page.goto("/index.html?view=resolved")  # an empty view: the results heading takes the focus
    page.locator("#views").get_by_role("link", name="All").click()
    expect(titles(page).first).to_be_focused()
    page.locator("#views").get_by_role("link", name="Resolved").click()
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.locator("#results-heading")).to_be_focused()


# --- export -------------------------------------------------------------------------------------------------------


def test_export_is_the_active_view_in_its_order(
    page: Page, context: BrowserContext, create_incident: CreateIncident, api_as: ApiAs
) -> None:
    create_incident(title="Low", severity="SEV4")
    create_incident(title="Done", severity="SEV1", status="RESOLVED")
    create_incident(title="Critical", severity="SEV1", commander_id=user_id(api_as, "responder"))
    create_incident(title="Mitigated", severity="SEV2", status="MITIGATED")
    page.goto("/index.html")
    expect(titles(page)).to_have_text(["Critical", "Mitigated", "Low"])

    rows = download_rows(page)

    assert [row[1] for row in rows[1:]] == ["Critical", "Mitigated", "Low"]
    assert {row[4] for row in rows[1:]} == {"OPEN", "MITIGATED"}
    assert [row[-1] for row in rows[1:]] == ["Rory Responder", "", ""]

    page.locator("#commander-filter").get_by_text("Mine", exact=True).click()
    expect(titles(page)).to_have_text(["Critical"])
    assert [row[1] for row in download_rows(page)[1:]] == ["Critical"]
    assert listed_ids(api_as("responder"), commander="me", status=["OPEN", "MITIGATED"]) == [
        int(row[0]) for row in download_rows(page)[1:]
    ]


# --- the pure helpers ---------------------------------------------------------------------------------------------


def test_list_state_views_filters_and_durations(page: Page) -> None:
    page.goto("/index.html")
    result = page.evaluate(
        """async () => {
        const state = await import("/js/list-state.js");
        const read = (query) => state.stateFromQuery(query);
        const write = (query) => state.stateToQuery(read(query));
        const MIN = 60_000, HOUR = 60 * MIN, DAY = 24 * HOUR;
        const now = Date.parse("2026-11-27T12:00:00Z");
        const incident = {commander: {id: 7, display_name: "Ada"}, archived_at: null, severity: "SEV1",
                          status: "OPEN", title: "x", service: "y"};
        const match = (commander, data = incident, userId = 7) =>
            state.matchesState(data, {...state.DEFAULT_STATE, commander}, {userId});
        return {
            bare: [read("").view, read("").status, read("").sort_by, read("").sort_order],
            views: ["?view=all", "?view=resolved", "?view=custom", "?view=nonsense", "?view=active"].map(write),
            named: ["?view=all", "?view=resolved", "?view=custom&sort_by=title&sort_order=asc"]
                .map((q) => read(q).view),
            old: write("?status=OPEN&status=MITIGATED&sort_by=severity&sort_order=asc"),
            custom: [write("?status=RESOLVED"), write("?view=all&status=OPEN"),
                     write("?view=all&sort_by=id&sort_order=asc"),
                     write("?view=custom&status=OPEN&status=MITIGATED&sort_by=severity&sort_order=asc")],
            commander: ["?commander=me", "?commander=none", "?commander=12", "?commander=0", "?commander=x"].map(write),
            changes: state.viewChanges("resolved"),
            counts: ["", "?search=db", "?search=db&severity=SEV1&severity=SEV2", "?commander=none&view=resolved",
                     "?status=OPEN", "?view=all&sort_by=id&sort_order=asc"]
                .map((q) => state.activeFilterCount(read(q))),
            cleared: [state.clearedFilters(read("?view=resolved&search=x&severity=SEV1&commander=me")),
                      state.clearedFilters(read("?status=OPEN&sort_by=title&sort_order=asc"))],
            api: state.apiParams(read("?commander=me")),
            sort: state.nextSort(read(""), "commander"),
            durations: [0, 59_000, MIN, 42 * MIN, HOUR, 2 * HOUR + 20 * MIN, DAY, 3 * DAY + 4 * HOUR + 10 * MIN,
                        -5 * MIN].map((ms) => state.durationText(ms)),
            long: [MIN, 2 * HOUR + MIN, DAY + HOUR, 30_000].map((ms) => state.durationText(ms, {long: true})),
            ages: [
                state.ageOf({created_at: "2026-11-23T08:00:00Z", status: "OPEN"}, now),
                state.ageOf({created_at: "2026-11-27T11:00:00", status: "MITIGATED", resolved_at: null}, now),
                state.ageOf({created_at: "2026-11-27T06:00:00Z", status: "RESOLVED",
                             resolved_at: "2026-11-27T08:30:00Z"}, now),
                state.ageOf({created_at: null, status: "OPEN"}, now),
            ],
            archived: [read("?archived=true").view, write("?archived=true"), write("?archived=true&view=active"),
                       state.archivedChanges(true), state.archivedChanges(false)],
            matches: [match(""), match("me"), match("me", incident, 8), match("me", incident, null), match("7"),
                      match("8"), match("none"), match("none", {...incident, commander: null})],
        };
    }"""
    )
    assert result["bare"] == ["active", ["OPEN", "MITIGATED"], "severity", "asc"]
    assert result["views"] == ["?view=all", "?view=resolved", "?view=all", "", ""]
    assert result["named"] == ["all", "resolved", "custom"]
    assert result["old"] == ""  # the Active view, spelled out
    assert result["custom"] == [
        "?view=custom&status=RESOLVED&sort_by=severity&sort_order=asc",
        "?view=custom&status=OPEN",
        "?view=custom&sort_by=id&sort_order=asc",
        "",
    ]
    assert result["commander"] == ["?commander=me", "?commander=none", "?commander=12", "", ""]
    assert result["changes"] == {"status": ["RESOLVED"], "sort_by": "created_at", "sort_order": "desc", "page": 1}
    assert result["counts"] == [0, 1, 2, 1, 1, 0]
    assert result["cleared"] == [
        {"search": "", "severity": [], "commander": "", "status": ["RESOLVED"], "page": 1},
        {"search": "", "severity": [], "commander": "", "status": [], "page": 1},
    ]
    assert result["api"]["commander"] == "me"
    assert result["api"]["status"] == ["OPEN", "MITIGATED"]
    assert result["sort"] == {"sort_by": "commander", "sort_order": "asc"}
    assert result["durations"] == [
        "< 1 min", "< 1 min", "1 min", "42 min", "1 h", "2 h 20 min", "1 d", "3 d 4 h", "< 1 min",
    ]  # fmt: skip
    assert result["long"] == ["1 minute", "2 hours 1 minute", "1 day 1 hour", "less than a minute"]
    assert result["ages"] == [
        {"text": "open for 4 d 4 h", "long": "Open for 4 days 4 hours", "resolved": False},
        {"text": "open for 1 h", "long": "Open for 1 hour", "resolved": False},
        {"text": "resolved in 2 h 30 min", "long": "Resolved in 2 hours 30 minutes", "resolved": True},
        None,
    ]
    assert result["archived"] == [
        "all",
        "?archived=true",
        "?view=active&archived=true",
        {"archived": True, "status": [], "sort_by": "created_at", "sort_order": "desc", "page": 1},
        {"archived": False, "status": ["OPEN", "MITIGATED"], "sort_by": "severity", "sort_order": "asc", "page": 1},
    ]
    assert result["matches"] == [True, True, False, False, True, False, False, True]
