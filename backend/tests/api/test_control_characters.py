"""Text fields refuse control characters other than tab and line feed; multi-line fields take CR LF as LF."""

import pytest
from sqlalchemy import func, select

from app.models import IncidentEvent, Role
from tests.api.helpers import API, assert_invalid, count_incidents, incident_payload, make_incident, stored_incident
from tests.api.test_users import USERS, count_users, new_user

# NUL, the other C0 controls (a lone CR among them), DEL and a C1 control.
CONTROLS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]


def count_events(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(IncidentEvent)) or 0


@pytest.mark.parametrize("char", CONTROLS, ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize("field", ["title", "service", "description"])
def test_an_incident_with_a_control_character_is_422_and_not_stored(client, db_session, field, char):
    body = assert_invalid(client.post(API, json=incident_payload(**{field: f"a{char}b"})), ("body", field))

    assert body["errors"][0]["type"] == "string_control_character"
    assert count_incidents(db_session) == 0


@pytest.mark.parametrize("char", ["\x00", "\r", "\x1f"], ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize("field", ["title", "service", "description"])
def test_a_change_with_a_control_character_is_422_and_changes_nothing(client, db_session, field, char):
    incident = make_incident(client, description="kept")

    assert_invalid(client.patch(f"{API}{incident['id']}", json={field: f"a{char}b"}), ("body", field))

    assert stored_incident(db_session, incident["id"])[field] == incident[field]


@pytest.mark.parametrize("char", ["\x1f", "\x0b", "\r"], ids=lambda char: f"U+{ord(char):04X}")
def test_a_control_character_that_strip_would_remove_is_refused_too(client, db_session, char):
    assert_invalid(client.post(API, json=incident_payload(title=f"title{char}")), ("body", "title"))


def test_tab_and_line_feed_are_kept(client, db_session):
    incident = make_incident(client, title="a\tb\nc", service="x\ty", description="one\n\ttwo")

    stored = stored_incident(db_session, incident["id"])
    assert (stored["title"], stored["service"], stored["description"]) == ("a\tb\nc", "x\ty", "one\n\ttwo")


def test_a_description_with_cr_lf_is_stored_with_lf(client, db_session):
    incident = make_incident(client, description="one\r\ntwo\r\n\r\nthree\r\n")

    assert incident["description"] == "one\ntwo\n\nthree"
    assert stored_incident(db_session, incident["id"])["description"] == "one\ntwo\n\nthree"


def test_a_title_with_cr_lf_is_refused(client, db_session):
    assert_invalid(client.post(API, json=incident_payload(title="one\r\ntwo")), ("body", "title"))


def test_a_note_with_cr_lf_is_stored_with_lf_and_one_with_nul_is_refused(client, db_session):
    incident_id = make_incident(client)["id"]
    before = count_events(db_session)

    response = client.post(f"{API}{incident_id}/notes", json={"text": "line one\r\nline two"})
    assert response.status_code == 201, response.text
    assert response.json()["note"] == "line one\nline two"

    assert_invalid(client.post(f"{API}{incident_id}/notes", json={"text": "a\x00b"}), ("body", "text"))
    assert_invalid(client.post(f"{API}{incident_id}/notes", json={"text": "a\rb"}), ("body", "text"))
    assert count_events(db_session) == before + 1


@pytest.mark.parametrize("char", ["\x00", "\r", "\x1b"], ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize("field", ["email", "display_name"])
def test_an_account_with_a_control_character_is_422_and_not_stored(clients, db_session, field, char):
    admin = clients[Role.ADMIN]
    value = {"email": f"s{char}am@example.com", "display_name": f"Sam{char}Rivera"}[field]
    before = count_users(db_session)

    assert_invalid(admin.post(USERS, json=new_user(**{field: value})), ("body", field))

    assert count_users(db_session) == before


def test_a_display_name_change_with_a_control_character_is_422(clients, accounts):
    admin = clients[Role.ADMIN]
    viewer = accounts[Role.VIEWER]

    assert_invalid(admin.patch(f"{USERS}/{viewer.id}", json={"display_name": "View\x00er"}), ("body", "display_name"))

    assert admin.get(f"{USERS}/{viewer.id}").json()["display_name"] == viewer.display_name


@pytest.mark.parametrize("char", ["\x00", "\r", "\x7f"], ids=lambda char: f"U+{ord(char):04X}")
def test_a_search_with_a_control_character_is_422(client, char):
    assert_invalid(client.get(API, params={"search": f"pay{char}ments"}), ("query", "search"))
    assert_invalid(client.get(f"{API}export", params={"search": f"pay{char}ments"}), ("query", "search"))


def test_a_search_with_a_tab_is_a_search(client):
    make_incident(client, title="a\tb")

    assert [item["title"] for item in client.get(API, params={"search": "a\tb"}).json()["items"]] == ["a\tb"]
