"""Dark mode: the system's theme by default (followed live), a choice of Light / Dark / System in the navbar,
remembered across reloads, pages and tabs, and set before the first paint."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.e2e.conftest import CreateIncident

pytestmark = pytest.mark.e2e

FRONTEND = Path(__file__).resolve().parents[3] / "frontend"
THEME_KEY = "incident-tracker:theme"
DARK_BODY = "rgb(33, 37, 41)"  # Bootstrap's dark --bs-body-bg (#212529)
LIGHT_TERTIARY = "rgb(248, 249, 250)"  # the pages' light background (.bg-body-tertiary, #f8f9fa)


def theme_of(page: Page):
    return page.locator("html")


def choose(page: Page, label: str) -> None:
    page.locator("#theme-toggle").click()
    page.locator("#theme-menu").get_by_role("button", name=label).click()


def test_the_system_theme_is_followed_when_nothing_is_chosen(page: Page) -> None:
    page.emulate_media(color_scheme="dark")
    page.goto("/index.html")
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")
    toggle = page.locator("#theme-toggle")
    expect(toggle).to_have_attribute("aria-label", "Theme: system (dark now)")
    expect(page.locator("body")).to_have_css("background-color", re.compile(r"rgb\(43, 48, 53\)"))  # dark tertiary

    page.emulate_media(color_scheme="light")  # the system changes while the page is open
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "light")
    expect(toggle).to_have_attribute("aria-label", "Theme: system (light now)")
    expect(page.locator("body")).to_have_css("background-color", LIGHT_TERTIARY)
    assert page.evaluate(f"localStorage.getItem('{THEME_KEY}')") is None


def test_a_choice_is_remembered_across_reloads_and_pages(page: Page, create_incident: CreateIncident) -> None:
    incident = create_incident(title="Checkout errors")
    page.emulate_media(color_scheme="light")
    page.goto("/index.html")

    page.locator("#theme-toggle").click()
    menu = page.locator("#theme-menu")
    expect(menu.get_by_role("button")).to_have_text(["Light", "Dark", "System"])
    expect(menu.get_by_role("button", name="System")).to_have_attribute("aria-pressed", "true")
    menu.get_by_role("button", name="Dark").click()

    expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-label", "Theme: dark")
    expect(page.locator("#theme-toggle")).to_be_focused()  # back on the button once chosen
    assert page.evaluate(f"localStorage.getItem('{THEME_KEY}')") == "dark"

    page.emulate_media(color_scheme="light")
    page.reload()
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")  # the choice beats the system
    for path in ("/create.html", f"/detail.html?id={incident['id']}", "/login.html"):
        page.goto(path)
        expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")

    page.goto("/index.html")
    choose(page, "Light")
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "light")
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "light")

    choose(page, "System")  # forget the choice: the system's again
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")
    assert page.evaluate(f"localStorage.getItem('{THEME_KEY}')") is None
    page.reload()
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")


def test_a_choice_in_one_tab_reaches_the_others(context: BrowserContext) -> None:
    first, second = context.new_page(), context.new_page()
    for tab in (first, second):
        tab.emulate_media(color_scheme="light")
        tab.goto("/index.html")
        expect(theme_of(tab)).to_have_attribute("data-bs-theme", "light")
    choose(first, "Dark")
    expect(theme_of(second)).to_have_attribute("data-bs-theme", "dark")
    expect(second.locator("#theme-toggle")).to_have_attribute("aria-label", "Theme: dark")


def test_the_theme_is_set_before_the_page_scripts_run(page: Page) -> None:
    """No flash of the light page: with the page's own module held back, the page is already dark."""
    held: list[Route] = []
    page.route(re.compile(r"/js/index\.js$"), lambda route: held.append(route))  # not answered while we look
    page.emulate_media(color_scheme="dark")
    page.goto("/index.html", wait_until="commit")
    page.wait_for_function("() => document.body !== null && document.readyState !== 'loading'")
    assert held, "the page's module was requested"
    expect(theme_of(page)).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator("body")).to_have_css("background-color", re.compile(r"rgb\(43, 48, 53\)"))


class HeadScripts(HTMLParser):
    """The <script> and stylesheet <link> tags of <head>, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.in_head = False
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        elif self.in_head and (tag == "script" or (tag == "link" and dict(attrs).get("rel") == "stylesheet")):
            self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False


@pytest.mark.parametrize("name", sorted(path.name for path in FRONTEND.glob("*.html")))
def test_every_page_loads_the_theme_first(name: str) -> None:
    """theme.js is the first script of <head>, before the stylesheets, neither deferred, async nor a module: it sets
    the theme before anything is painted."""
    parser = HeadScripts()
    parser.feed((FRONTEND / name).read_text(encoding="utf-8"))
    first_tag, first = parser.tags[0]
    assert (first_tag, first.get("src")) == ("script", "js/theme.js"), parser.tags
    assert not {"defer", "async"} & first.keys() and first.get("type") in (None, "text/javascript")
