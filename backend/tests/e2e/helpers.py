"""Expected renderings of API values, computed the way the pages compute them (en-US, UTC); the stored session."""

import json
import time
from datetime import datetime

from playwright.sync_api import Page, expect

# Where api.js keeps the session in localStorage, and how.
TOKEN_KEY = "incident-tracker:session"


def session_value(token: str, *, expires_in: float = 8 * 3600) -> str:
    """The localStorage value api.js writes after signing in: the token and when (ms) this browser expects it to
    expire."""
    return json.dumps({"access_token": token, "expires_at": int((time.time() + expires_in) * 1000)})


def parse_api_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def js_iso(value: str) -> str:
    """An API time as JavaScript's toISOString() writes it: milliseconds and Z."""
    parsed = parse_api_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def exact_time(value: str) -> str:
    """formatExact() in en-US and UTC: 'Nov 27, 2026, 3:05:55 AM UTC'."""
    parsed = parse_api_time(value)
    hour = parsed.hour % 12 or 12
    return f"{parsed:%b} {parsed.day}, {parsed.year}, {hour}:{parsed:%M:%S} {parsed:%p} UTC"


def plain_spaces(text: str | None) -> str:
    """ICU puts a narrow no-break space before AM/PM; compare with plain spaces."""
    return (text or "").replace("\u202f", " ")


def store_session(page: Page, value: str | None) -> None:
    """Put a stored session (a value from session_value(), or any text) into the browser for the pages' origin,
    or remove it (None). The sign-in page is a page of ours that calls no API, so nothing is asked meanwhile."""
    page.goto("/login.html")
    if value is None:
        page.evaluate("key => localStorage.removeItem(key)", TOKEN_KEY)
    else:
        page.evaluate("([key, value]) => localStorage.setItem(key, value)", [TOKEN_KEY, value])


def sign_in_through_page(page: Page, email: str, password: str) -> None:
    """Fill the sign-in form (the page must be login.html) and send it."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def timeline(page: Page):
    """The timeline's events, oldest first."""
    return page.locator("#events > li.timeline-item")


def open_edit_form(page: Page) -> None:
    """On detail.html: open the edit form (closed until asked for) as a person does, with its Edit button."""
    page.get_by_role("button", name="Edit", exact=True).click()
    expect(page.locator("#incident-form")).to_be_visible()


# What every page says when the API cannot be reached (js/api.js): what to do, never the API's address.
UNREACHABLE = (
    "Cannot reach the Incident Tracker server. Check your connection and try again; if it keeps happening, the server "
    "may be down: tell whoever runs it."
)
