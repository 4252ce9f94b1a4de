"""GET and PATCH /api/incidents/{id}: reading one incident, partial updates, and what a bad request leaves behind."""

from datetime import UTC, datetime

import pytest

from app.models import Role
from tests.api.helpers import (
    BASE_TIME,
    as_stored,
    assert_invalid,
    assert_problem,
    insert_incident,
    make_incident,
    parse_time,
    stored_incident,
)

ORIGINAL = {
    "title": "Checkout latency above 2 s",
    "service": "payments-api",
    "severity": "SEV2",
    "status": "OPEN",
    "description": "p99 doubled.",
}


@pytest.fixture
def seeded(db_session):
    """An OPEN incident created and last updated at BASE_TIME, so any change of updated_at is visible."""
    return insert_incident(db_session, **ORIGINAL)


def url(incident_id):
    return f"/api/incidents/{incident_id}"


def test_get_returns_the_incident_as_created(client):
    created = make_incident(client, description="details")

    response = client.get(url(created["id"]))

    assert response.status_code == 200
    assert response.json() == created


def test_get_returns_the_stored_row(client, db_session, seeded):
    body = client.get(url(seeded)).json()

    assert as_stored(body) == stored_incident(db_session, seeded)
    assert {key: body[key] for key in ORIGINAL} == ORIGINAL
    assert parse_time(body["created_at"]) == parse_time(body["updated_at"]) == BASE_TIME
    # Inserted without the API, so nobody is named; not archived.
    assert {key: body[key] for key in ("created_by", "updated_by", "archived_at", "archived_by")} == dict.fromkeys(
        ("created_by", "updated_by", "archived_at", "archived_by")
    )


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_an_unknown_id_is_404(client, seeded, method):
    response = client.request(method, url(999999), json={"title": "x"} if method == "PATCH" else None)

    assert assert_problem(response, 404) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Incident 999999 not found.",
    }


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "1.5", "99999999999999999999999"])
def test_an_invalid_id_is_422_naming_the_path_param(client, db_session, seeded, method, bad_id):
    response = client.request(method, url(bad_id), json={"title": "changed"} if method == "PATCH" else None)

    assert_invalid(response, ("path", "incident_id"))
    assert stored_incident(db_session, seeded)["title"] == ORIGINAL["title"]


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Checkout fully down"},
        {"service": "checkout-web"},
        {"severity": "SEV1"},
        {"description": "Rolled back at 14:20."},
        {"title": "New title", "severity": "SEV4", "description": None},
    ],
    ids=["title", "service", "severity", "description", "several"],
)
def test_patch_changes_only_the_fields_sent(client, db_session, refs, seeded, change):
    before = datetime.now(UTC)
    response = client.patch(url(seeded), json=change)
    after = datetime.now(UTC)

    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in ORIGINAL} == {**ORIGINAL, **change}
    assert parse_time(body["created_at"]) == BASE_TIME
    assert before <= parse_time(body["updated_at"]) <= after
    assert (body["mitigated_at"], body["resolved_at"]) == (None, None)
    assert (body["created_by"], body["updated_by"]) == (None, refs[Role.RESPONDER])
    assert (body["archived_at"], body["archived_by"]) == (None, None)
    assert stored_incident(db_session, seeded) == as_stored(body)
    assert client.get(url(seeded)).json() == body


def test_the_last_editor_replaces_updated_by_and_the_creator_stays(client, auth_headers, db_session, refs):
    created = make_incident(client)

    edited = client.patch(url(created["id"]), json={"title": "Edited by the admin"}, headers=auth_headers(Role.ADMIN))

    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["created_by"], body["updated_by"]) == (refs[Role.RESPONDER], refs[Role.ADMIN])
    assert stored_incident(db_session, created["id"]) == as_stored(body)


def test_a_no_op_patch_keeps_the_last_editor(client, auth_headers, db_session, refs):
    created = make_incident(client)

    body = client.patch(url(created["id"]), json={"title": created["title"]}, headers=auth_headers(Role.ADMIN)).json()

    assert body == created
    assert body["updated_by"] == refs[Role.RESPONDER]
    assert stored_incident(db_session, created["id"]) == as_stored(created)


def test_patch_strips_title_and_service(client, db_session, seeded):
    body = client.patch(url(seeded), json={"title": "  title  ", "service": " svc "}).json()

    assert (body["title"], body["service"]) == ("title", "svc")
    stored = stored_incident(db_session, seeded)
    assert (stored["title"], stored["service"]) == ("title", "svc")


@pytest.mark.parametrize("description", [None, "", "   "], ids=["null", "empty", "whitespace"])
def test_patch_can_clear_the_description(client, db_session, seeded, description):
    body = client.patch(url(seeded), json={"description": description}).json()

    assert body["description"] is None
    assert stored_incident(db_session, seeded)["description"] is None
    assert parse_time(body["updated_at"]) > BASE_TIME


def test_an_empty_patch_is_a_200_no_op(client, db_session, seeded):
    before = client.get(url(seeded)).json()

    response = client.patch(url(seeded), json={})

    assert response.status_code == 200, response.text
    assert response.json() == before
    assert parse_time(before["updated_at"]) == BASE_TIME
    assert before["updated_by"] is None
    assert stored_incident(db_session, seeded) == as_stored(before)


@pytest.mark.parametrize(
    "same",
    [
        {"title": ORIGINAL["title"]},
        {"title": f"  {ORIGINAL['title']} "},  # equal once stripped
        {"service": ORIGINAL["service"], "severity": ORIGINAL["severity"]},
        {"status": "OPEN"},
        {"description": ORIGINAL["description"]},
        dict(ORIGINAL),
    ],
    ids=["title", "title-padded", "service-severity", "status", "description", "everything"],
)
def test_patch_with_unchanged_values_does_not_move_updated_at(client, db_session, seeded, same):
    response = client.patch(url(seeded), json=same)

    assert response.status_code == 200, response.text
    assert parse_time(response.json()["updated_at"]) == BASE_TIME
    assert response.json()["updated_by"] is None
    assert stored_incident(db_session, seeded)["updated_at"] == BASE_TIME
    assert stored_incident(db_session, seeded)["updated_by"] is None


def test_clearing_an_already_empty_description_changes_nothing(client, db_session):
    incident_id = insert_incident(db_session, description=None)

    body = client.patch(url(incident_id), json={"description": ""}).json()

    assert body["description"] is None
    assert parse_time(body["updated_at"]) == BASE_TIME


@pytest.mark.parametrize(
    ("patch", "locs"),
    [
        pytest.param({"title": None}, [("body", "title")], id="title-null"),
        pytest.param({"service": None}, [("body", "service")], id="service-null"),
        pytest.param({"severity": None}, [("body", "severity")], id="severity-null"),
        pytest.param({"status": None}, [("body", "status")], id="status-null"),
        pytest.param({"title": ""}, [("body", "title")], id="title-empty"),
        pytest.param({"title": " \n "}, [("body", "title")], id="title-whitespace"),
        pytest.param({"title": "t" * 201}, [("body", "title")], id="title-201"),
        pytest.param({"service": "   "}, [("body", "service")], id="service-whitespace"),
        pytest.param({"service": "s" * 101}, [("body", "service")], id="service-101"),
        pytest.param({"description": "d" * 10_001}, [("body", "description")], id="description-10001"),
        pytest.param({"severity": "SEV0"}, [("body", "severity")], id="severity-unknown"),
        pytest.param({"status": "CLOSED"}, [("body", "status")], id="status-unknown"),
        pytest.param({"status": "open"}, [("body", "status")], id="status-lowercase"),
        pytest.param({"owner": "me"}, [("body", "owner")], id="unknown-field"),
        pytest.param({"id": 7}, [("body", "id")], id="id"),
        pytest.param({"created_at": "2030-01-01T00:00:00Z"}, [("body", "created_at")], id="created_at"),
        pytest.param({"updated_at": "2030-01-01T00:00:00Z"}, [("body", "updated_at")], id="updated_at"),
        pytest.param({"mitigated_at": "2030-01-01T00:00:00Z"}, [("body", "mitigated_at")], id="mitigated_at"),
        pytest.param({"resolved_at": "2030-01-01T00:00:00Z"}, [("body", "resolved_at")], id="resolved_at"),
        pytest.param({"created_by": 1}, [("body", "created_by")], id="created_by"),
        pytest.param({"updated_by": {"id": 1}}, [("body", "updated_by")], id="updated_by"),
        pytest.param({"archived_at": "2030-01-01T00:00:00Z"}, [("body", "archived_at")], id="archived_at"),
        pytest.param({"archived_by": 1}, [("body", "archived_by")], id="archived_by"),
        pytest.param(
            {"title": "valid new title", "severity": "SEV9"},
            [("body", "severity")],
            id="one-bad-among-good",
        ),
        pytest.param(
            {"title": None, "service": "", "status": None, "id": 1},
            [("body", "title"), ("body", "service"), ("body", "status"), ("body", "id")],
            id="several-at-once",
        ),
    ],
)
def test_patch_rejects_invalid_bodies_and_changes_nothing(client, db_session, seeded, patch, locs):
    before = stored_incident(db_session, seeded)

    assert_invalid(client.patch(url(seeded), json=patch), *locs)

    assert stored_incident(db_session, seeded) == before


@pytest.mark.parametrize("content", [b'{"title": "x"', b"title=x"], ids=["truncated", "form-like"])
def test_patch_rejects_malformed_json_and_changes_nothing(client, db_session, seeded, content):
    before = stored_incident(db_session, seeded)

    response = client.patch(url(seeded), content=content, headers={"content-type": "application/json"})

    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
    assert stored_incident(db_session, seeded) == before


@pytest.mark.parametrize("body", [[], [{"title": "x"}], "x"], ids=["array", "array-of-object", "string"])
def test_patch_rejects_a_body_that_is_not_an_object(client, db_session, seeded, body):
    before = stored_incident(db_session, seeded)

    assert_invalid(client.patch(url(seeded), json=body), ("body",))
    assert stored_incident(db_session, seeded) == before
