"""Small helpers for the API tests: payloads, direct inserts that bypass the API, and problem+json checks."""

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import EventAction, Incident, IncidentEvent, Severity, Status, User
from app.services import incidents as incident_service
from app.services.audit import WITH_ACTOR
from app.services.incidents import WITH_PEOPLE

API = "/api/incidents/"
# Databases that cannot be reached: the app starts with one (and answers 503), its engine fails on first use.
UNREACHABLE_DATABASES = [
    pytest.param("sqlite:////nonexistent-dir/x.db", id="sqlite-missing-directory"),
    pytest.param("mysql+pymysql://root@127.0.0.1:1/incident_tracker_test", id="mysql-closed-port"),  # nothing listens
]
PROBLEM_JSON = "application/problem+json"
INCIDENT_KEYS = {
    "id",
    "title",
    "service",
    "severity",
    "status",
    "description",
    "created_at",
    "updated_at",
    "mitigated_at",
    "resolved_at",
    "created_by",
    "updated_by",
    "archived_at",
    "archived_by",
    "commander",
    "version",
}
TIME_KEYS = ("created_at", "updated_at", "mitigated_at", "resolved_at")
# Every timestamp of an incident, including the archive stamp (null on a live incident).
ALL_TIME_KEYS = (*TIME_KEYS, "archived_at")
# The people an incident names, as {"id": ..., "display_name": ...} or null.
PEOPLE_KEYS = ("created_by", "updated_by", "archived_by", "commander")
EVENT_KEYS = {"id", "incident_id", "action", "actor", "changes", "note", "details", "request_id", "created_at"}
# UTC ISO 8601 with an explicit offset: Z or +00:00.
UTC_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)$")
# A fixed point in the past, so that "did not move" and "moved" are exact comparisons.
BASE_TIME = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def incident_payload(**overrides: Any) -> dict[str, Any]:
    """A valid create body; `overrides` replace fields, and a value of `...` drops the field."""
    payload: dict[str, Any] = {"title": "Checkout latency above 2 s", "service": "payments-api", "severity": "SEV2"}
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not ...}


def make_incident(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post(API, json=incident_payload(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def insert_incidents(session: Session, *rows: dict[str, Any]) -> list[int]:
    """Insert rows directly, with full control of the timestamps; returns their ids in insertion order.

    Defaults: an OPEN SEV3 incident created (and last updated) at BASE_TIME.
    """
    incidents = []
    for row in rows:
        fields: dict[str, Any] = {
            "title": "Seeded incident",
            "service": "seed-service",
            "severity": Severity.SEV3,
            "status": Status.OPEN,
            "created_at": BASE_TIME,
        }
        fields.update(row)
        fields["severity"] = Severity(fields["severity"])
        fields["status"] = Status(fields["status"])
        fields.setdefault("updated_at", fields["created_at"])
        incidents.append(Incident(**fields))
        session.add(incidents[-1])
        session.flush()  # one row at a time, so ids follow the order of `rows`
    ids = [incident.id for incident in incidents]
    recount(session)
    session.commit()
    return ids


def recount(session: Session) -> None:
    """Rebuild the totals the services keep, after rows were written past them."""
    for statement in incident_service.recount_statements():
        session.execute(statement)


def insert_incident(session: Session, **fields: Any) -> int:
    return insert_incidents(session, fields)[0]


def insert_events(session: Session, *rows: dict[str, Any]) -> list[int]:
    """Insert audit events directly (each row needs incident_id; defaults: a note by nobody at BASE_TIME);
    returns their ids in insertion order."""
    events = []
    for row in rows:
        fields: dict[str, Any] = {"action": "note_added", "note": "seeded", "created_at": BASE_TIME, **row}
        fields["action"] = EventAction(fields["action"])
        events.append(IncidentEvent(**fields))
        session.add(events[-1])
        session.flush()
    ids = [event.id for event in events]
    session.commit()
    return ids


def user_ref(user: Any) -> dict[str, Any] | None:
    """How the API shows a person next to what they did: an account, a stored User, or None."""
    return None if user is None else {"id": user.id, "display_name": user.display_name}


def count_incidents(session: Session) -> int:
    session.rollback()  # end any open transaction: on MySQL (REPEATABLE READ) it would hide the API's commits
    return session.scalar(select(func.count()).select_from(Incident)) or 0


def stored_incident(session: Session, incident_id: int) -> dict[str, Any] | None:
    """The stored row as plain values (enums as strings, timestamps as aware datetimes), read afresh."""
    session.rollback()
    incident = session.get(Incident, incident_id, options=WITH_PEOPLE)
    if incident is None:
        return None
    return {
        "id": incident.id,
        "title": incident.title,
        "service": incident.service,
        "severity": incident.severity.value,
        "status": incident.status.value,
        "description": incident.description,
        "version": incident.version,
        **{key: getattr(incident, key) for key in ALL_TIME_KEYS},
        **{key: user_ref(getattr(incident, key)) for key in PEOPLE_KEYS},
    }


def stored_events(session: Session, incident_id: int | None = None) -> list[dict[str, Any]]:
    """The stored audit trail (of one incident, or all of it) in id order, as plain values, read afresh."""
    session.rollback()
    query = select(IncidentEvent).order_by(IncidentEvent.id).options(*WITH_ACTOR)
    if incident_id is not None:
        query = query.where(IncidentEvent.incident_id == incident_id)
    return [
        {
            "id": event.id,
            "incident_id": event.incident_id,
            "action": event.action.value,
            "actor": user_ref(event.actor),
            "changes": event.changes,
            "note": event.note,
            "details": event.details,
            "request_id": event.request_id,
            "created_at": event.created_at,
        }
        for event in session.scalars(query).unique()
    ]


def stored_user(session: Session, user_id: int) -> User | None:
    session.rollback()
    return session.get(User, user_id)


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    assert UTC_ISO.match(value), f"not UTC ISO 8601 with an offset: {value!r}"
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def as_stored(body: dict[str, Any]) -> dict[str, Any]:
    """An API incident with its timestamps parsed, comparable with `stored_incident()`."""
    return {**body, **{key: parse_time(body[key]) for key in ALL_TIME_KEYS}}


def as_stored_event(body: dict[str, Any]) -> dict[str, Any]:
    """An API event with its time parsed, comparable with `stored_events()`."""
    assert set(body) == EVENT_KEYS, body
    return {**body, "created_at": parse_time(body["created_at"])}


def list_page(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(API, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def list_ids(client: TestClient, **params: Any) -> list[int]:
    return [item["id"] for item in list_page(client, **params)["items"]]


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem: the status, the media type, and exactly the documented keys."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM_JSON
    body = response.json()
    expected_keys = {"type", "title", "status", "detail"} | ({"errors"} if status == 422 else set())
    assert set(body) == expected_keys, body
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str), body
        assert body[key], body
    if status == 422:
        assert isinstance(body["errors"], list), body
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"loc", "msg", "type"}, error
            assert isinstance(error["loc"], list), error
            assert error["loc"], error
            assert isinstance(error["msg"], str), error
            assert isinstance(error["type"], str), error
    return body


def assert_invalid(response: Response, *locs: Iterable[str | int]) -> dict[str, Any]:
    """A 422 problem whose errors name exactly these fields/params (compared on their first two parts,
    so that ["query", "severity", 0] names ["query", "severity"])."""
    body = assert_problem(response, 422)
    named = {tuple(error["loc"][:2]) for error in body["errors"]}
    assert named == {tuple(loc) for loc in locs}, body["errors"]
    return body


def on_the_same_loop(client: TestClient, **options: Any) -> TestClient:
    """Another client of `client`'s app that sends its requests through `client`'s event loop, as the clients of
    one server process do: the app's pooled connections belong to the event loop that opened them."""
    other = TestClient(client.app, **options)
    other.portal = client.portal
    return other
