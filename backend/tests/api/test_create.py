"""POST /api/incidents/: what is accepted, what is stored, and what is refused (with nothing stored)."""

from datetime import UTC, datetime

import pytest

from app.models import Role
from tests.api.helpers import (
    API,
    INCIDENT_KEYS,
    as_stored,
    assert_invalid,
    assert_problem,
    count_incidents,
    incident_payload,
    make_incident,
    parse_time,
    stored_incident,
)


def test_create_returns_201_the_incident_and_its_location(client, db_session, refs):
    before = datetime.now(UTC)
    response = client.post(API, json=incident_payload(), follow_redirects=False)
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == INCIDENT_KEYS
    assert isinstance(body["id"], int)
    assert body["id"] >= 1
    assert response.headers["location"] == f"/api/incidents/{body['id']}"
    assert {key: body[key] for key in ("title", "service", "severity", "status", "description")} == {
        "title": "Checkout latency above 2 s",
        "service": "payments-api",
        "severity": "SEV2",
        "status": "OPEN",
        "description": None,
    }
    created_at = parse_time(body["created_at"])
    assert before <= created_at <= after  # a UTC "now", whatever the machine's time zone
    assert body["updated_at"] == body["created_at"]
    assert (body["mitigated_at"], body["resolved_at"]) == (None, None)
    assert body["created_by"] == body["updated_by"] == refs[Role.RESPONDER]
    assert (body["archived_at"], body["archived_by"]) == (None, None)
    assert count_incidents(db_session) == 1


def test_create_stores_exactly_what_it_returns(client, db_session, refs):
    body = make_incident(client, description="p99 doubled after the 14:05 deploy.", severity="SEV1")

    assert stored_incident(db_session, body["id"]) == as_stored(body)
    assert body["description"] == "p99 doubled after the 14:05 deploy."
    assert body["severity"] == "SEV1"
    assert stored_incident(db_session, body["id"])["created_by"] == refs[Role.RESPONDER]


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.ADMIN])
def test_the_creator_is_the_signed_in_account(client, auth_headers, db_session, refs, role):
    response = client.post(API, json=incident_payload(), headers=auth_headers(role))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created_by"] == body["updated_by"] == refs[role]
    assert stored_incident(db_session, body["id"]) == as_stored(body)


@pytest.mark.parametrize(
    "field", ["created_by", "updated_by", "archived_at", "archived_by", "created_by_id", "updated_by_id"]
)
def test_create_refuses_the_server_owned_people_and_archive_fields(client, db_session, field):
    value = "2024-01-01T00:00:00Z" if field == "archived_at" else 1

    assert_invalid(client.post(API, json=incident_payload(**{field: value})), ("body", field))
    assert count_incidents(db_session) == 0


def test_each_create_gets_its_own_id_and_location(client, db_session):
    first = client.post(API, json=incident_payload(title="first"))
    second = client.post(API, json=incident_payload(title="second"))

    assert first.json()["id"] != second.json()["id"]
    assert second.headers["location"] == f"/api/incidents/{second.json()['id']}"
    assert count_incidents(db_session) == 2


@pytest.mark.parametrize("path", ["/api/incidents", "/api/incidents/"])
def test_create_answers_on_both_paths_without_redirect(client, db_session, path):
    response = client.post(path, json=incident_payload(), follow_redirects=False)

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/incidents/{response.json()['id']}"
    assert count_incidents(db_session) == 1


@pytest.mark.parametrize("severity", ["SEV1", "SEV2", "SEV3", "SEV4"])
def test_create_accepts_every_severity(client, db_session, severity):
    body = make_incident(client, severity=severity)

    assert body["severity"] == severity
    assert stored_incident(db_session, body["id"])["severity"] == severity


def test_create_strips_title_and_service(client, db_session):
    body = make_incident(client, title="  title  ", service="\tpayments-api \n")

    assert (body["title"], body["service"]) == ("title", "payments-api")
    stored = stored_incident(db_session, body["id"])
    assert (stored["title"], stored["service"]) == ("title", "payments-api")


@pytest.mark.parametrize("description", ["", "   ", "\n\t "])
def test_create_blank_description_becomes_null(client, db_session, description):
    body = make_incident(client, description=description)

    assert body["description"] is None
    assert stored_incident(db_session, body["id"])["description"] is None


def test_create_accepts_null_description(client, db_session):
    body = make_incident(client, description=None)

    assert body["description"] is None
    assert stored_incident(db_session, body["id"])["description"] is None


def test_create_accepts_the_longest_allowed_values(client, db_session):
    title, service, description = "t" * 200, "s" * 100, "d" * 10_000
    body = make_incident(client, title=title, service=service, description=description)

    stored = stored_incident(db_session, body["id"])
    assert (body["title"], body["service"], body["description"]) == (title, service, description)
    assert (stored["title"], stored["service"], stored["description"]) == (title, service, description)


def test_create_accepts_the_shortest_allowed_values(client):
    body = make_incident(client, title="x", service="y")

    assert (body["title"], body["service"]) == ("x", "y")


@pytest.mark.parametrize(
    ("overrides", "locs"),
    [
        pytest.param({"title": ...}, [("body", "title")], id="title-missing"),
        pytest.param({"service": ...}, [("body", "service")], id="service-missing"),
        pytest.param({"severity": ...}, [("body", "severity")], id="severity-missing"),
        pytest.param({"title": None}, [("body", "title")], id="title-null"),
        pytest.param({"service": None}, [("body", "service")], id="service-null"),
        pytest.param({"severity": None}, [("body", "severity")], id="severity-null"),
        pytest.param({"title": ""}, [("body", "title")], id="title-empty"),
        pytest.param({"title": "   \t "}, [("body", "title")], id="title-whitespace"),
        pytest.param({"title": "t" * 201}, [("body", "title")], id="title-201"),
        pytest.param({"title": 42}, [("body", "title")], id="title-not-a-string"),
        pytest.param({"service": ""}, [("body", "service")], id="service-empty"),
        pytest.param({"service": "  "}, [("body", "service")], id="service-whitespace"),
        pytest.param({"service": "s" * 101}, [("body", "service")], id="service-101"),
        pytest.param({"description": "d" * 10_001}, [("body", "description")], id="description-10001"),
        pytest.param({"severity": "SEV5"}, [("body", "severity")], id="severity-unknown"),
        pytest.param({"severity": "sev1"}, [("body", "severity")], id="severity-lowercase"),
        pytest.param({"severity": 1}, [("body", "severity")], id="severity-number"),
        pytest.param({"status": "CLOSED"}, [("body", "status")], id="status-unknown"),
        pytest.param({"priority": "high"}, [("body", "priority")], id="unknown-field"),
        pytest.param({"id": 12345}, [("body", "id")], id="id"),
        pytest.param({"created_at": "2024-01-01T00:00:00Z"}, [("body", "created_at")], id="created_at"),
        pytest.param({"updated_at": "2024-01-01T00:00:00Z"}, [("body", "updated_at")], id="updated_at"),
        pytest.param({"mitigated_at": "2024-01-01T00:00:00Z"}, [("body", "mitigated_at")], id="mitigated_at"),
        pytest.param({"resolved_at": "2024-01-01T00:00:00Z"}, [("body", "resolved_at")], id="resolved_at"),
        pytest.param(
            {"title": " ", "service": "s" * 101, "severity": "SEV0", "status": "DONE"},
            [("body", "title"), ("body", "service"), ("body", "severity"), ("body", "status")],
            id="every-field-at-once",
        ),
    ],
)
def test_create_rejects_invalid_bodies_and_stores_nothing(client, db_session, overrides, locs):
    response = client.post(API, json=incident_payload(**overrides))

    assert_invalid(response, *locs)
    assert count_incidents(db_session) == 0


@pytest.mark.parametrize(
    "content",
    [b'{"title": "Checkout down", "service": "payments",', b"not json at all", b'{"title": }'],
    ids=["truncated", "not-json", "bad-value"],
)
def test_create_rejects_malformed_json_and_stores_nothing(client, db_session, content):
    response = client.post(API, content=content, headers={"content-type": "application/json"})

    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
    assert count_incidents(db_session) == 0


@pytest.mark.parametrize("body", [[], "a string", 42], ids=["array", "string", "number"])
def test_create_rejects_a_body_that_is_not_an_object(client, db_session, body):
    assert_invalid(client.post(API, json=body), ("body",))
    assert count_incidents(db_session) == 0
