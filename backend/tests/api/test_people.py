"""`GET /api/people`: who can be named commander, for every signed-in role: active accounts only, `{id,
display_name}` by name (ignoring case), narrowed by `search`, at most `limit` (1-100)."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import utcnow
from app.models import Role, User
from tests.api.helpers import assert_invalid, assert_problem

PEOPLE = "/api/people"


def add_user(session: Session, name: str, *, active: bool = True) -> int:
    """An account (committed) with this display name and an email of its own."""
    now = utcnow()
    with Session(session.get_bind()) as own, own.begin():
        count = len(own.scalars(select(User.id)).all())
        user = User(
            email=f"person{count}@example.com",
            display_name=name,
            role=Role.VIEWER,
            password_hash="x",
            is_active=active,
            created_at=now,
            updated_at=now,
        )
        own.add(user)
        own.flush()
        return user.id


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [person["display_name"] for person in response.json()["items"]]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER, Role.ADMIN])
def test_every_role_reads_the_active_people_by_name_with_id_and_name_only(clients, accounts, role):
    response = clients[role].get(PEOPLE)

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"id": accounts[Role.ADMIN].id, "display_name": "Admin Tester"},
            {"id": accounts[Role.RESPONDER].id, "display_name": "Responder Tester"},
            {"id": accounts[Role.VIEWER].id, "display_name": "Viewer Tester"},
        ]
    }


def test_signed_out_is_a_401(anonymous):
    assert_problem(anonymous.get(PEOPLE), 401)


def test_inactive_people_are_left_out(client, db_session):
    add_user(db_session, "Gone Away", active=False)
    kept = add_user(db_session, "Still Here")

    body = client.get(PEOPLE).json()

    assert "Gone Away" not in [person["display_name"] for person in body["items"]]
    assert {"id": kept, "display_name": "Still Here"} in body["items"]


def test_order_ignores_case_then_goes_by_id_on_both_databases(client, db_session):
    add_user(db_session, "bea Lower")
    add_user(db_session, "Bea Upper")
    first_twin, second_twin = add_user(db_session, "Zed Twin"), add_user(db_session, "Zed Twin")

    assert names(client.get(PEOPLE)) == [
        "Admin Tester",
        "bea Lower",
        "Bea Upper",
        "Responder Tester",
        "Viewer Tester",
        "Zed Twin",
        "Zed Twin",
    ]
    twins = [p["id"] for p in client.get(PEOPLE, params={"search": "twin"}).json()["items"]]
    assert twins == [first_twin, second_twin]


def test_search_is_a_case_insensitive_substring_of_the_name_with_wildcards_taken_literally(client, db_session):
    add_user(db_session, "Percy 100% Sure")
    add_user(db_session, "Under_score")
    add_user(db_session, "Undersea")

    assert names(client.get(PEOPLE, params={"search": "TESTER"})) == [
        "Admin Tester",
        "Responder Tester",
        "Viewer Tester",
    ]
    assert names(client.get(PEOPLE, params={"search": "  spond "})) == ["Responder Tester"]
    assert names(client.get(PEOPLE, params={"search": "%"})) == ["Percy 100% Sure"]
    assert names(client.get(PEOPLE, params={"search": "r_s"})) == ["Under_score"]
    assert names(client.get(PEOPLE, params={"search": "nobody"})) == []
    # An empty search is no search.
    assert len(names(client.get(PEOPLE, params={"search": ""}))) == 6


def test_search_does_not_match_emails(client, db_session):
    add_user(db_session, "Plain Name")  # email person3@example.com

    assert names(client.get(PEOPLE, params={"search": "example.com"})) == []


def test_limit_takes_the_first_by_name(client, db_session):
    for name in ("Cy", "Bo", "Al"):
        add_user(db_session, name)

    assert names(client.get(PEOPLE, params={"limit": 2})) == ["Admin Tester", "Al"]
    assert len(names(client.get(PEOPLE, params={"limit": 100}))) == 6
    assert len(names(client.get(PEOPLE))) == 6


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ("query", "limit")),
        ({"limit": 101}, ("query", "limit")),
        ({"limit": "ten"}, ("query", "limit")),
        ({"search": "x" * 101}, ("query", "search")),
        ({"search": "a\x00b"}, ("query", "search")),
    ],
)
def test_bad_parameters_are_a_422_on_the_parameter(client, params, loc):
    assert_invalid(client.get(PEOPLE, params=params), loc)
