"""Small helpers for the API tests: payloads, direct inserts that bypass the API, and problem+json checks."""

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Incident, Severity, Status

API = "/api/incidents/"
PROBLEM_JSON = "application/problem+json"
INCIDENT_KEYS = {
    "id", "title", "service", "severity", "status", "description",
    "created_at", "updated_at", "mitigated_at", "resolved_at",
}
TIME_KEYS = ("created_at", "updated_at", "mitigated_at", "resolved_at")
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
            "title": "Seeded incident", "service": "seed-service", "severity": Severity.SEV3,
            "status": Status.OPEN, "created_at": BASE_TIME,
        }
        fields.update(row)
        fields["severity"] = Severity(fields["severity"])
        fields["status"] = Status(fields["status"])
        fields.setdefault("updated_at", fields["created_at"])
        incidents.append(Incident(**fields))
        session.add(incidents[-1])
        session.flush()  # one row at a time, so ids follow the order of `rows`
    ids = [incident.id for incident in incidents]
    session.commit()
    return ids


def insert_incident(session: Session, **fields: Any) -> int:
    return insert_incidents(session, fields)[0]


def count_incidents(session: Session) -> int:
    session.rollback()  # end any open transaction: on MySQL (REPEATABLE READ) it would hide the API's commits
    return session.scalar(select(func.count()).select_from(Incident)) or 0


def stored_incident(session: Session, incident_id: int) -> dict[str, Any] | None:
    """The stored row as plain values (enums as strings, timestamps as aware datetimes), read afresh."""
    session.rollback()
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    return {
        "id": incident.id, "title": incident.title, "service": incident.service,
        "severity": incident.severity.value, "status": incident.status.value, "description": incident.description,
        **{key: getattr(incident, key) for key in TIME_KEYS},
    }


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    assert UTC_ISO.match(value), f"not UTC ISO 8601 with an offset: {value!r}"
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def as_stored(body: dict[str, Any]) -> dict[str, Any]:
    """An API incident with its timestamps parsed, comparable with `stored_incident()`."""
    return {**body, **{key: parse_time(body[key]) for key in TIME_KEYS}}


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
