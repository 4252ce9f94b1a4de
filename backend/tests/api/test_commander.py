"""An incident's commander: set on create or by PATCH (an active user, else 422), cleared with null, shown as
{id, display_name}, recorded in the audit trail (old -> new), filtered (`commander=<id>`, `me`, `none`), sorted
(both ways, through the cursor), counted (exact up to the bound) and exported."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.database import utcnow
from app.models import Role, User
from tests.api.helpers import (
    API,
    BASE_TIME,
    assert_invalid,
    assert_problem,
    insert_incidents,
    list_ids,
    list_page,
    make_incident,
    stored_events,
    stored_incident,
)
from tests.api.test_export import EXPORT, csv_rows


def add_user(session: Session, name: str, *, active: bool = True) -> int:
    now = utcnow()
    with Session(session.get_bind()) as own, own.begin():
        user = User(
            email=f"{name.lower()}@example.com",
            display_name=name,
            role=Role.RESPONDER,
            password_hash="x",
            is_active=active,
            created_at=now,
            updated_at=now,
        )
        own.add(user)
        own.flush()
        return user.id


# --- create and PATCH ------------------------------------------------------------------------------------------


def test_create_with_a_commander_shows_stores_and_records_them(client, clients, db_session, refs):
    viewer = refs[Role.VIEWER]

    created = make_incident(client, commander_id=viewer["id"])

    assert created["commander"] == viewer
    assert clients[Role.VIEWER].get(f"{API}{created['id']}").json()["commander"] == viewer
    assert stored_incident(db_session, created["id"])["commander"] == viewer
    (event,) = stored_events(db_session, created["id"])
    assert event["changes"]["commander"] == {"old": None, "new": viewer}
    # Without one: null, and nothing about it in the event.
    plain = make_incident(client)
    assert plain["commander"] is None
    assert "commander" not in stored_events(db_session, plain["id"])[0]["changes"]


def test_patch_takes_command_hands_it_over_and_clears_it_each_in_the_audit_trail(clients, db_session, refs):
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    incident = make_incident(responder)
    url = f"{API}{incident['id']}"

    taken = responder.patch(url, json={"commander_id": refs[Role.RESPONDER]["id"]})
    handed = admin.patch(url, json={"commander_id": refs[Role.VIEWER]["id"]})
    same = admin.patch(url, json={"commander_id": refs[Role.VIEWER]["id"]})
    cleared = responder.patch(url, json={"commander_id": None})

    assert [r.status_code for r in (taken, handed, same, cleared)] == [200] * 4
    assert [r.json()["commander"] for r in (taken, handed, same, cleared)] == [
        refs[Role.RESPONDER],
        refs[Role.VIEWER],
        refs[Role.VIEWER],
        None,
    ]
    assert [r.json()["version"] for r in (taken, handed, same, cleared)] == [2, 3, 3, 4]
    assert handed.json()["updated_by"] == refs[Role.ADMIN]
    updates = [event for event in stored_events(db_session, incident["id"]) if event["action"] == "updated"]
    assert [(event["actor"], event["changes"]) for event in updates] == [
        (refs[Role.RESPONDER], {"commander": {"old": None, "new": refs[Role.RESPONDER]}}),
        (refs[Role.ADMIN], {"commander": {"old": refs[Role.RESPONDER], "new": refs[Role.VIEWER]}}),
        (refs[Role.RESPONDER], {"commander": {"old": refs[Role.VIEWER], "new": None}}),
    ]
    # The timeline shows the same changes.
    timeline = admin.get(f"{url}/events").json()["items"]
    assert [item["changes"] for item in timeline[1:]] == [event["changes"] for event in updates]
    assert stored_incident(db_session, incident["id"])["commander"] is None


def test_command_goes_to_the_person_who_created_or_last_changed_the_incident(clients, db_session, refs):
    # The incident's creator and last editor are read with their names only: putting one of them in command must
    # still check that they are active, not fail on the columns that were left out.
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    incident = make_incident(responder)
    url = f"{API}{incident['id']}"

    to_creator = admin.patch(url, json={"commander_id": refs[Role.RESPONDER]["id"]})
    to_editor = responder.patch(url, json={"commander_id": refs[Role.ADMIN]["id"]})

    assert [r.status_code for r in (to_creator, to_editor)] == [200, 200], [to_creator.text, to_editor.text]
    assert [r.json()["commander"] for r in (to_creator, to_editor)] == [refs[Role.RESPONDER], refs[Role.ADMIN]]
    assert stored_incident(db_session, incident["id"])["commander"] == refs[Role.ADMIN]


def test_an_absent_commander_id_leaves_the_commander_as_it_is(client, db_session, refs):
    incident = make_incident(client, commander_id=refs[Role.ADMIN]["id"])

    response = client.patch(f"{API}{incident['id']}", json={"title": "Renamed"})

    assert response.status_code == 200
    assert response.json()["commander"] == refs[Role.ADMIN]


@pytest.mark.parametrize("who", ["unknown", "inactive"])
def test_an_unknown_or_inactive_commander_is_a_422_on_the_field_and_changes_nothing(client, db_session, who):
    user_id = 2_000_000 if who == "unknown" else add_user(db_session, "Gone", active=False)
    incident = make_incident(client)
    before = stored_events(db_session)

    created = client.post(API, json={"title": "t", "service": "s", "severity": "SEV1", "commander_id": user_id})
    patched = client.patch(f"{API}{incident['id']}", json={"commander_id": user_id})

    for response in (created, patched):
        body = assert_invalid(response, ("body", "commander_id"))
        assert body["errors"][0]["type"] == "commander_invalid"
    assert stored_events(db_session) == before
    assert stored_incident(db_session, incident["id"])["commander"] is None
    assert stored_incident(db_session, incident["id"])["version"] == 1


def test_a_commander_who_is_deactivated_later_stays_shown(client, db_session, refs, accounts):
    incident = make_incident(client, commander_id=refs[Role.ADMIN]["id"])
    with Session(db_session.get_bind()) as session, session.begin():
        session.execute(update(User).where(User.id == accounts[Role.ADMIN].id).values(is_active=False))

    assert client.get(f"{API}{incident['id']}").json()["commander"] == refs[Role.ADMIN]


def test_a_viewer_cannot_set_a_commander(clients, db_session, refs):
    incident = make_incident(clients[Role.RESPONDER])

    response = clients[Role.VIEWER].patch(f"{API}{incident['id']}", json={"commander_id": refs[Role.VIEWER]["id"]})
    created = clients[Role.VIEWER].post(
        API, json={"title": "t", "service": "s", "severity": "SEV1", "commander_id": refs[Role.VIEWER]["id"]}
    )

    assert_problem(response, 403)
    assert_problem(created, 403)
    assert stored_incident(db_session, incident["id"])["commander"] is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, "greater_than_equal"),
        (-1, "greater_than_equal"),
        (2_147_483_648, "less_than_equal"),
        ("me", "int_type"),
        ("7", "int_type"),
        (1.5, "int_type"),
        (7.0, "int_type"),
        (True, "int_type"),
    ],
)
def test_a_commander_id_that_is_no_user_id_is_refused_by_the_schema(client, value, error):
    body = {"title": "t", "service": "s", "severity": "SEV1", "commander_id": value}

    refused = assert_invalid(client.post(API, json=body), ("body", "commander_id"))

    assert [item["type"] for item in refused["errors"]] == [error]


# --- the list --------------------------------------------------------------------------------------------------


@pytest.fixture
def owned(db_session, accounts) -> dict[str, list[int]]:
    """Nine incidents, created a minute apart: three the responder commands, two the admin, four nobody."""
    responder, admin = accounts[Role.RESPONDER].id, accounts[Role.ADMIN].id
    commanders = [responder, None, admin, responder, None, None, admin, responder, None]
    ids = insert_incidents(
        db_session,
        *({"commander_id": who, "created_at": BASE_TIME + timedelta(minutes=i)} for i, who in enumerate(commanders)),
    )
    return {
        "responder": [i for i, who in zip(ids, commanders, strict=True) if who == responder],
        "admin": [i for i, who in zip(ids, commanders, strict=True) if who == admin],
        "none": [i for i, who in zip(ids, commanders, strict=True) if who is None],
        "all": ids,
        "commanders": commanders,
    }


def test_the_list_filters_by_commander_id_me_and_none_newest_first(clients, accounts, owned, refs):
    responder, admin = clients[Role.RESPONDER], clients[Role.ADMIN]

    assert list_ids(admin, commander=accounts[Role.RESPONDER].id) == owned["responder"][::-1]
    assert list_ids(responder, commander="me") == owned["responder"][::-1]
    assert list_ids(admin, commander="me") == owned["admin"][::-1]
    assert list_ids(clients[Role.VIEWER], commander="me") == []
    assert list_ids(admin, commander="none") == owned["none"][::-1]
    assert list_ids(admin, commander=2_000_000) == []
    items = list_page(admin, commander="me")["items"]
    assert [item["commander"] for item in items] == [refs[Role.ADMIN]] * 2


@pytest.mark.parametrize("value", ["you", "0", "-3", "1.5", ""])
def test_a_commander_filter_that_is_no_id_me_or_none_is_a_422(client, value):
    assert_invalid(client.get(API, params={"commander": value}), ("query", "commander"))


def test_totals_with_a_commander_filter_are_exact(clients, accounts, owned):
    admin = clients[Role.ADMIN]
    for commander, expected in (("me", 2), ("none", 4), (accounts[Role.RESPONDER].id, 3)):
        body = list_page(admin, commander=commander, limit=1)
        assert (body["total"], body["total_exact"], body["pages"]) == (expected, True, expected)
    body = list_page(admin, commander="none", status="RESOLVED")
    assert (body["total"], body["total_exact"]) == (0, True)


@pytest.fixture
def bound(app, monkeypatch) -> int:
    monkeypatch.setattr(app.state.settings, "list_count_limit", 3)
    return 3


def test_totals_with_a_commander_filter_stop_at_the_bound(clients, owned, bound):
    admin = clients[Role.ADMIN]

    at_bound = list_page(admin, commander="none", limit=2)  # 4 match: more than the bound
    within = list_page(admin, commander="me", limit=1)  # 2 match

    assert (at_bound["total"], at_bound["total_exact"], at_bound["pages"]) == (3, False, 2)
    assert len(at_bound["items"]) == 2 and at_bound["next_cursor"] is not None
    assert (within["total"], within["total_exact"]) == (2, True)
    # Without a commander the maintained counts still answer exactly.
    assert (list_page(admin)["total"], list_page(admin)["total_exact"]) == (9, True)


def walk(client, **params) -> list[int]:
    """Every id, following next_cursor from the first page."""
    body = list_page(client, **params)
    ids = [item["id"] for item in body["items"]]
    while body["next_cursor"]:
        body = list_page(client, **params, cursor=body["next_cursor"])
        ids += [item["id"] for item in body["items"]]
    return ids


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_the_sort_by_commander_goes_both_ways_through_the_cursor_unowned_first_ascending(
    clients, accounts, owned, limit
):
    admin = clients[Role.ADMIN]
    keyed = sorted(
        zip(owned["all"], owned["commanders"], strict=True),
        key=lambda pair: (pair[1] is not None, pair[1] or 0, pair[0]),
    )
    ascending = [incident_id for incident_id, _ in keyed]

    assert walk(admin, sort_by="commander", sort_order="asc", limit=limit) == ascending
    assert walk(admin, sort_by="commander", sort_order="desc", limit=limit) == ascending[::-1]
    assert list_ids(admin, sort_by="commander", sort_order="asc", limit=20) == ascending
    assert list_ids(admin, sort_by="commander", sort_order="asc", limit=2, page=3) == ascending[4:6]
    # With a filter too.
    mine = walk(admin, sort_by="commander", sort_order="desc", commander="none", limit=limit)
    assert mine == sorted(owned["none"], reverse=True)


def test_a_cursor_of_the_sort_by_commander_is_refused_by_another_order(clients, owned):
    admin = clients[Role.ADMIN]
    cursor = list_page(admin, sort_by="commander", sort_order="asc", limit=1)["next_cursor"]

    assert_invalid(
        admin.get(API, params={"sort_by": "commander", "sort_order": "desc", "cursor": cursor}), ("query", "cursor")
    )


# --- the export ------------------------------------------------------------------------------------------------


def test_the_export_has_the_commander_column_and_takes_the_filter(clients, owned):
    responder = clients[Role.RESPONDER]

    response = responder.get(EXPORT, params={"commander": "me"})
    rows = csv_rows(response.content)

    assert response.status_code == 200
    assert rows[0][11:] == ["updated_by", "commander"]
    assert [int(row[0]) for row in rows[1:]] == owned["responder"][::-1]
    assert {row[12] for row in rows[1:]} == {"Responder Tester"}
    unowned = csv_rows(responder.get(EXPORT, params={"commander": "none"}).content)
    assert [(int(row[0]), row[12]) for row in unowned[1:]] == [(i, "") for i in owned["none"][::-1]]
