"""The audit trail: every change writes exactly one event in the same transaction (who, what, old -> new, which
request), a failed request leaves neither the change nor the event, and nothing changes or removes an event."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.models import Incident, Role, User
from app.routes import incidents as incident_routes
from tests.api.helpers import (
    API,
    BASE_TIME,
    EVENT_KEYS,
    as_stored,
    as_stored_event,
    assert_invalid,
    assert_problem,
    count_incidents,
    incident_payload,
    insert_events,
    insert_incident,
    make_incident,
    on_the_same_loop,
    parse_time,
    stored_events,
    stored_incident,
)

MITIGATED_AT = BASE_TIME + timedelta(minutes=10)
RESOLVED_AT = BASE_TIME + timedelta(minutes=20)
NEW_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
ORIGINAL = {"title": "Checkout latency above 2 s", "service": "payments-api", "severity": "SEV2", "status": "OPEN"}


def iso(value: str | datetime | None) -> str | None:
    """A time as the `changes` column holds it: Python's isoformat of the aware UTC datetime."""
    if value is None:
        return None
    return (parse_time(value) if isinstance(value, str) else value).isoformat()


def events_url(incident_id: int) -> str:
    return f"/api/incidents/{incident_id}/events"


def api_events(client: TestClient, incident_id: int, **params) -> list[dict]:
    response = client.get(events_url(incident_id), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def assert_one_new_event(db_session, before: list[dict], **expected) -> dict:
    """Exactly one event was added since `before`, and it has these values."""
    after = stored_events(db_session)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 1, after
    (event,) = after[len(before) :]
    assert {key: event[key] for key in expected} == expected
    return event


# --- one event per change, with its actor, changes and request id ---------------------------------------------


def test_create_writes_one_created_event(client, db_session, refs):
    response = client.post(API, json=incident_payload(description="p99 doubled."), headers={"X-Request-ID": "req-1"})

    assert response.status_code == 201, response.text
    body = response.json()
    (event,) = stored_events(db_session)
    assert event == {
        "id": event["id"],
        "incident_id": body["id"],
        "action": "created",
        "actor": refs[Role.RESPONDER],
        "changes": {
            "title": {"old": None, "new": "Checkout latency above 2 s"},
            "service": {"old": None, "new": "payments-api"},
            "severity": {"old": None, "new": "SEV2"},
            "status": {"old": None, "new": "OPEN"},
            "description": {"old": None, "new": "p99 doubled."},
        },
        "note": None,
        "details": None,
        "request_id": "req-1",
        "created_at": parse_time(body["created_at"]),
    }
    assert response.headers["x-request-id"] == "req-1"
    assert [as_stored_event(item) for item in api_events(client, body["id"])] == [event]


def test_create_with_a_later_status_records_its_stamps(client, db_session, refs):
    body = make_incident(client, status="RESOLVED")

    (event,) = stored_events(db_session, body["id"])
    assert event["changes"] == {
        "title": {"old": None, "new": "Checkout latency above 2 s"},
        "service": {"old": None, "new": "payments-api"},
        "severity": {"old": None, "new": "SEV2"},
        "status": {"old": None, "new": "RESOLVED"},
        "mitigated_at": {"old": None, "new": iso(body["created_at"])},
        "resolved_at": {"old": None, "new": iso(body["created_at"])},
    }


@pytest.mark.parametrize(
    ("start", "change", "expected"),
    [
        pytest.param(
            {},
            {"title": "Checkout down"},
            {"title": {"old": "Checkout latency above 2 s", "new": "Checkout down"}},
            id="title",
        ),
        pytest.param(
            {},
            {"severity": "SEV1", "service": "checkout"},
            {"severity": {"old": "SEV2", "new": "SEV1"}, "service": {"old": "payments-api", "new": "checkout"}},
            id="two-fields",
        ),
        pytest.param(
            {"description": "old text"},
            {"description": None},
            {"description": {"old": "old text", "new": None}},
            id="description-cleared",
        ),
        pytest.param(
            {}, {"description": "  new text "}, {"description": {"old": None, "new": "new text"}}, id="description-set"
        ),
        pytest.param(
            {},
            {"status": "MITIGATED"},
            {"status": {"old": "OPEN", "new": "MITIGATED"}, "mitigated_at": {"old": None, "new": "now"}},
            id="mitigate",
        ),
        pytest.param(
            {},
            {"status": "RESOLVED", "title": "Fixed"},
            {
                "title": {"old": "Checkout latency above 2 s", "new": "Fixed"},
                "status": {"old": "OPEN", "new": "RESOLVED"},
                "mitigated_at": {"old": None, "new": "now"},
                "resolved_at": {"old": None, "new": "now"},
            },
            id="resolve-directly",
        ),
        pytest.param(
            {"status": "RESOLVED", "mitigated_at": MITIGATED_AT, "resolved_at": RESOLVED_AT},
            {"status": "OPEN"},
            {"status": {"old": "RESOLVED", "new": "OPEN"}, "resolved_at": {"old": iso(RESOLVED_AT), "new": None}},
            id="reopen",
        ),
    ],
)
@pytest.mark.parametrize("role", [Role.RESPONDER, Role.ADMIN])
def test_update_writes_one_updated_event_with_old_and_new(
    client, db_session, auth_headers, refs, role, start, change, expected
):
    incident_id = insert_incident(db_session, **{**ORIGINAL, **start})

    response = client.patch(
        f"/api/incidents/{incident_id}", json=change, headers={**auth_headers(role), "X-Request-ID": "patch-1"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    (event,) = stored_events(db_session)
    now = iso(body["updated_at"])
    assert event == {
        "id": event["id"],
        "incident_id": incident_id,
        "action": "updated",
        "actor": refs[role],
        "changes": {
            field: {"old": values["old"], "new": now if values["new"] == "now" else values["new"]}
            for field, values in expected.items()
        },
        "note": None,
        "details": None,
        "request_id": "patch-1",
        "created_at": parse_time(body["updated_at"]),
    }


@pytest.mark.parametrize(
    "same",
    [
        {},
        {"title": ORIGINAL["title"]},
        {"title": f" {ORIGINAL['title']} "},
        {"status": "OPEN"},
        dict(ORIGINAL),
        {"description": None},
        {"description": "  "},
    ],
    ids=["empty", "title", "title-padded", "status", "everything", "description-null", "description-blank"],
)
def test_a_no_op_patch_writes_no_event(client, db_session, same):
    created = make_incident(client)
    before = stored_events(db_session)

    response = client.patch(f"/api/incidents/{created['id']}", json=same)

    assert response.status_code == 200, response.text
    assert stored_events(db_session) == before
    assert len(before) == 1


def test_a_note_writes_one_note_event_and_returns_it(client, db_session, refs):
    incident_id = make_incident(client)["id"]
    before = stored_events(db_session)

    response = client.post(
        f"/api/incidents/{incident_id}/notes",
        json={"text": "  Rolled back at 14:20.\n"},
        headers={"X-Request-ID": "n-1"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == EVENT_KEYS
    event = assert_one_new_event(
        db_session,
        before,
        incident_id=incident_id,
        action="note_added",
        actor=refs[Role.RESPONDER],
        changes=None,
        note="Rolled back at 14:20.",
        request_id="n-1",
    )
    assert as_stored_event(body) == event
    assert response.headers["x-request-id"] == "n-1"
    assert stored_incident(db_session, incident_id)["updated_by"] == refs[Role.RESPONDER]


def test_archive_and_restore_write_one_event_each_by_the_admin(client, clients, db_session, refs):
    admin = clients[Role.ADMIN]
    incident_id = make_incident(client)["id"]
    before = stored_events(db_session)

    archived = admin.delete(f"/api/incidents/{incident_id}", headers={"X-Request-ID": "arch-1"})

    assert archived.status_code == 200, archived.text
    archived_at = archived.json()["archived_at"]
    event = assert_one_new_event(
        db_session,
        before,
        incident_id=incident_id,
        action="archived",
        actor=refs[Role.ADMIN],
        note=None,
        changes={"archived_at": {"old": None, "new": iso(archived_at)}},
        request_id="arch-1",
    )
    assert event["created_at"] == parse_time(archived_at)

    before = stored_events(db_session)
    restored = admin.post(f"/api/incidents/{incident_id}/restore", headers={"X-Request-ID": "rest-1"})

    assert restored.status_code == 200, restored.text
    assert_one_new_event(
        db_session,
        before,
        incident_id=incident_id,
        action="restored",
        actor=refs[Role.ADMIN],
        note=None,
        changes={"archived_at": {"old": iso(archived_at), "new": None}},
        request_id="rest-1",
    )


def test_the_events_of_the_api_are_the_stored_ones(client, clients, db_session):
    incident_id = make_incident(client)["id"]
    client.patch(f"/api/incidents/{incident_id}", json={"status": "MITIGATED"})
    client.post(f"/api/incidents/{incident_id}/notes", json={"text": "note"})
    clients[Role.ADMIN].delete(f"/api/incidents/{incident_id}")
    clients[Role.ADMIN].post(f"/api/incidents/{incident_id}/restore")

    items = api_events(client, incident_id)

    assert [item["action"] for item in items] == ["created", "updated", "note_added", "archived", "restored"]
    assert [as_stored_event(item) for item in items] == stored_events(db_session, incident_id)


# --- the request id -------------------------------------------------------------------------------------------


def change_of_each_kind(client, admin, kind, headers):
    """Make one change of `kind` and return the response (its incident made beforehand, without the headers)."""
    if kind == "create":
        return client.post(API, json=incident_payload(), headers=headers)
    incident_id = make_incident(client)["id"]
    if kind == "update":
        return client.patch(f"/api/incidents/{incident_id}", json={"title": "changed"}, headers=headers)
    if kind == "note":
        return client.post(f"/api/incidents/{incident_id}/notes", json={"text": "note"}, headers=headers)
    if kind == "archive":
        return admin.delete(f"/api/incidents/{incident_id}", headers=headers)
    assert admin.delete(f"/api/incidents/{incident_id}").status_code == 200
    return admin.post(f"/api/incidents/{incident_id}/restore", headers=headers)


KINDS = ["create", "update", "note", "archive", "restore"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sent", ["abc", "Req-2024.01.01_12:00:00-x", "x" * 64, "0123456789abcdef0123456789abcdef"])
def test_a_valid_client_request_id_is_echoed_and_recorded(client, clients, db_session, kind, sent):
    response = change_of_each_kind(client, clients[Role.ADMIN], kind, {"X-Request-ID": sent})

    assert response.status_code in (200, 201), response.text
    assert response.headers["x-request-id"] == sent
    assert stored_events(db_session)[-1]["request_id"] == sent


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "sent",
    [None, "", "has space", "x" * 65, "semi;colon", "new\\nline", "ünïcode", 'quote"d'],
    ids=["absent", "empty", "space", "65-chars", "semicolon", "backslash", "non-ascii", "quote"],
)
def test_otherwise_the_server_makes_one_and_records_it(client, clients, db_session, kind, sent):
    headers = {} if sent is None else {"X-Request-ID": sent.encode()}

    response = change_of_each_kind(client, clients[Role.ADMIN], kind, headers)

    assert response.status_code in (200, 201), response.text
    made = response.headers["x-request-id"]
    assert NEW_REQUEST_ID.match(made), made
    assert stored_events(db_session)[-1]["request_id"] == made


def test_every_request_gets_its_own_id_even_errors(client, anonymous):
    ids = [
        client.get(API).headers["x-request-id"],
        client.get(API).headers["x-request-id"],
        client.get("/api/incidents/999999").headers["x-request-id"],
        anonymous.get(API).headers["x-request-id"],
        client.put(API).headers["x-request-id"],
        client.post(API, json={}).headers["x-request-id"],
    ]

    assert all(NEW_REQUEST_ID.match(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)
    assert anonymous.get(API, headers={"X-Request-ID": "mine"}).headers["x-request-id"] == "mine"


# --- a failed request leaves neither the change nor the event -------------------------------------------------


def explode(*_args, **_kwargs):
    raise RuntimeError("after the service ran")


@pytest.fixture
def failing(app, client, accounts):
    """Clients per role whose server errors become 500 responses."""
    return {
        role: on_the_same_loop(client, raise_server_exceptions=False, headers=account.headers)
        for role, account in accounts.items()
    }


def test_a_create_that_fails_after_the_service_stores_nothing(failing, db_session, monkeypatch):
    monkeypatch.setattr(incident_routes.IncidentRead, "model_validate", explode)

    response = failing[Role.RESPONDER].post(API, json=incident_payload())

    assert_problem(response, 500)
    assert count_incidents(db_session) == 0
    assert stored_events(db_session) == []


def test_an_update_that_fails_after_the_service_changes_nothing(client, failing, db_session, monkeypatch):
    incident_id = make_incident(client)["id"]
    incident_before, events_before = stored_incident(db_session, incident_id), stored_events(db_session)
    monkeypatch.setattr(incident_routes.IncidentRead, "model_validate", explode)

    response = failing[Role.RESPONDER].patch(f"/api/incidents/{incident_id}", json={"status": "RESOLVED"})

    assert_problem(response, 500)
    assert stored_incident(db_session, incident_id) == incident_before
    assert stored_events(db_session) == events_before


def test_an_archive_that_fails_after_the_service_changes_nothing(client, failing, db_session, monkeypatch):
    incident_id = make_incident(client)["id"]
    incident_before, events_before = stored_incident(db_session, incident_id), stored_events(db_session)
    monkeypatch.setattr(incident_routes.IncidentRead, "model_validate", explode)

    response = failing[Role.ADMIN].delete(f"/api/incidents/{incident_id}")

    assert_problem(response, 500)
    assert stored_incident(db_session, incident_id) == incident_before
    assert stored_incident(db_session, incident_id)["archived_at"] is None
    assert stored_events(db_session) == events_before


def test_a_restore_that_fails_after_the_service_changes_nothing(client, clients, failing, db_session, monkeypatch):
    incident_id = make_incident(client)["id"]
    assert clients[Role.ADMIN].delete(f"/api/incidents/{incident_id}").status_code == 200
    incident_before, events_before = stored_incident(db_session, incident_id), stored_events(db_session)
    monkeypatch.setattr(incident_routes.IncidentRead, "model_validate", explode)

    response = failing[Role.ADMIN].post(f"/api/incidents/{incident_id}/restore")

    assert_problem(response, 500)
    assert stored_incident(db_session, incident_id) == incident_before
    assert stored_incident(db_session, incident_id)["archived_at"] is not None
    assert stored_events(db_session) == events_before


def test_a_note_that_fails_after_the_service_stores_nothing(client, failing, db_session, monkeypatch):
    incident_id = make_incident(client)["id"]
    events_before = stored_events(db_session)
    monkeypatch.setattr(incident_routes.EventRead, "model_validate", explode)

    response = failing[Role.RESPONDER].post(f"/api/incidents/{incident_id}/notes", json={"text": "lost"})

    assert_problem(response, 500)
    assert stored_events(db_session) == events_before


def test_the_failing_setup_really_fails_only_the_patched_call(client, failing, db_session, monkeypatch):
    """The control: the same requests succeed once the patch is undone, so the 500s above came from it."""
    with monkeypatch.context() as patch:
        patch.setattr(incident_routes.IncidentRead, "model_validate", explode)
        assert failing[Role.RESPONDER].post(API, json=incident_payload()).status_code == 500

    response = failing[Role.RESPONDER].post(API, json=incident_payload())

    assert response.status_code == 201, response.text
    assert count_incidents(db_session) == 1
    assert len(stored_events(db_session)) == 1


# --- append-only ----------------------------------------------------------------------------------------------


def test_an_incident_with_events_cannot_be_deleted_from_the_database(client, db_session):
    incident_id = make_incident(client)["id"]
    incident_before, events_before = stored_incident(db_session, incident_id), stored_events(db_session)

    with pytest.raises(IntegrityError):
        db_session.execute(delete(Incident).where(Incident.id == incident_id))
        db_session.flush()
    db_session.rollback()

    assert stored_incident(db_session, incident_id) == incident_before
    assert stored_events(db_session) == events_before


def test_an_incident_with_events_cannot_be_deleted_through_the_orm_either(client, db_session):
    incident_id = make_incident(client)["id"]
    db_session.rollback()

    db_session.delete(db_session.get(Incident, incident_id))
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()

    assert len(stored_events(db_session, incident_id)) == 1
    assert stored_incident(db_session, incident_id) is not None


def test_an_account_that_acted_cannot_be_deleted_from_the_database(client, accounts, db_session):
    make_incident(client)

    with pytest.raises(IntegrityError):
        db_session.execute(delete(User).where(User.id == accounts[Role.RESPONDER].id))
        db_session.flush()
    db_session.rollback()

    assert stored_events(db_session)[0]["actor"]["id"] == accounts[Role.RESPONDER].id


def test_an_incident_without_events_can_be_deleted(db_session):
    """The control for the two tests above: the failure is the events' foreign key, not the delete itself."""
    incident_id = insert_incident(db_session)

    db_session.execute(delete(Incident).where(Incident.id == incident_id))
    db_session.commit()

    assert count_incidents(db_session) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_no_request_changes_or_removes_an_event(client, clients, db_session, method):
    incident_id = make_incident(client)["id"]
    client.post(f"/api/incidents/{incident_id}/notes", json={"text": "keep me"})
    events = stored_events(db_session)
    event_id = events[-1]["id"]

    for caller in clients.values():
        for url, status in [
            (f"/api/incidents/{incident_id}/events/{event_id}", 404),
            (f"/api/audit/{event_id}", 404),
            (f"/api/events/{event_id}", 404),
            (f"/api/incidents/{incident_id}/events", 405),
            ("/api/audit", 405),
        ]:
            response = caller.request(method, url, json={"note": "changed", "action": "created"})
            assert_problem(response, status)
            if status == 405:
                assert response.headers["allow"] == "GET"

    assert stored_events(db_session) == events


# --- the events of an incident --------------------------------------------------------------------------------


def test_events_are_paged_oldest_first(client, db_session):
    incident_id = make_incident(client)["id"]
    other_id = make_incident(client, title="other")["id"]
    for n in range(1, 7):
        assert client.post(f"/api/incidents/{incident_id}/notes", json={"text": f"note {n}"}).status_code == 201
    client.post(f"/api/incidents/{other_id}/notes", json={"text": "elsewhere"})
    stored = stored_events(db_session, incident_id)
    assert [event["note"] for event in stored] == [None] + [f"note {n}" for n in range(1, 7)]

    first = client.get(events_url(incident_id), params={"limit": 3}).json()
    last = client.get(events_url(incident_id), params={"limit": 3, "page": 3}).json()
    everything = client.get(events_url(incident_id)).json()

    assert [as_stored_event(item) for item in first["items"]] == stored[:3]
    assert {key: first[key] for key in ("total", "page", "limit", "pages")} == {
        "total": 7,
        "page": 1,
        "limit": 3,
        "pages": 3,
    }
    assert [as_stored_event(item) for item in last["items"]] == stored[6:]
    assert [as_stored_event(item) for item in everything["items"]] == stored
    assert {key: everything[key] for key in ("total", "page", "limit", "pages")} == {
        "total": 7,
        "page": 1,
        "limit": 50,
        "pages": 1,
    }
    assert client.get(events_url(incident_id), params={"page": 4, "limit": 3}).json()["items"] == []


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_events(client, clients, role):
    incident_id = make_incident(client)["id"]

    assert [item["action"] for item in api_events(clients[role], incident_id)] == ["created"]


@pytest.mark.parametrize(("params", "loc"), [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"page": 0}, "page")])
def test_events_refuse_bad_paging(client, params, loc):
    incident_id = make_incident(client)["id"]

    assert_invalid(client.get(events_url(incident_id), params=params), ("query", loc))


def test_events_of_an_unknown_incident_are_404(client):
    assert assert_problem(client.get(events_url(999999)), 404)["detail"] == "Incident 999999 not found."


def test_seeded_events_have_no_actor(client, db_session):
    """Events no person made (the seed script) have a null actor and request id."""
    incident_id = insert_incident(db_session)
    insert_events(
        db_session,
        {
            "incident_id": incident_id,
            "action": "created",
            "note": None,
            "details": None,
            "changes": {"title": {"old": None, "new": "Seeded incident"}},
        },
    )

    (item,) = api_events(client, incident_id)
    assert item == {
        "id": item["id"],
        "incident_id": incident_id,
        "action": "created",
        "actor": None,
        "changes": {"title": {"old": None, "new": "Seeded incident"}},
        "note": None,
        "details": None,
        "request_id": None,
        "created_at": item["created_at"],
    }
    assert parse_time(item["created_at"]) == BASE_TIME


# --- notes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({"text": ""}, ("body", "text"), id="empty"),
        pytest.param({"text": "   \n\t "}, ("body", "text"), id="blank"),
        pytest.param({"text": "n" * 10_001}, ("body", "text"), id="10001-chars"),
        pytest.param({"text": None}, ("body", "text"), id="null"),
        pytest.param({"text": 42}, ("body", "text"), id="not-a-string"),
        pytest.param({}, ("body", "text"), id="missing"),
        pytest.param({"text": "fine", "author": "me"}, ("body", "author"), id="unknown-field"),
        pytest.param({"text": "fine", "action": "created"}, ("body", "action"), id="action"),
        pytest.param({"text": "fine", "created_at": "2024-01-01T00:00:00Z"}, ("body", "created_at"), id="created_at"),
        pytest.param({"note": "wrong name"}, None, id="wrong-name"),
    ],
)
def test_invalid_notes_are_422_and_store_nothing(client, db_session, body, loc):
    incident_id = make_incident(client)["id"]
    before = stored_events(db_session)

    response = client.post(f"/api/incidents/{incident_id}/notes", json=body)

    if loc is None:
        assert_invalid(response, ("body", "text"), ("body", "note"))
    else:
        assert_invalid(response, loc)
    assert stored_events(db_session) == before


@pytest.mark.parametrize("text", ["x", "n" * 10_000, "🔥" * 10_000, "multi\nline\n\ttext"])
def test_notes_up_to_10000_characters_are_kept_whole(client, db_session, text):
    incident_id = make_incident(client)["id"]

    response = client.post(f"/api/incidents/{incident_id}/notes", json={"text": text})

    assert response.status_code == 201, response.text
    assert response.json()["note"] == text
    assert stored_events(db_session)[-1]["note"] == text


def test_a_note_on_an_unknown_incident_is_404(client, db_session):
    assert assert_problem(client.post(events_url(999999).replace("events", "notes"), json={"text": "x"}), 404)
    assert stored_events(db_session) == []


def test_a_note_does_not_edit_the_incident(client, db_session):
    created = make_incident(client)

    client.post(f"/api/incidents/{created['id']}/notes", json={"text": "just a note"})

    assert stored_incident(db_session, created["id"]) == as_stored(created)


# --- the audit log (/api/audit) -------------------------------------------------------------------------------

AUDIT = "/api/audit"


def at(minutes: int, microseconds: int = 0) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes, microseconds=microseconds)


@pytest.fixture
def history(db_session, accounts):
    """Seven events on two incidents, at known times, by known actors; keyed e1..e7 in the order inserted."""
    first = insert_incident(db_session, title="first")
    second = insert_incident(db_session, title="second")
    admin, responder = accounts[Role.ADMIN].id, accounts[Role.RESPONDER].id
    rows = [
        {
            "incident_id": first,
            "action": "created",
            "actor_id": admin,
            "created_at": at(0),
            "note": None,
            "details": None,
            "changes": {"title": {"old": None, "new": "first"}},
            "request_id": "r-1",
        },
        {
            "incident_id": first,
            "action": "updated",
            "actor_id": responder,
            "created_at": at(1),
            "note": None,
            "details": None,
            "changes": {"title": {"old": "a", "new": "b"}},
            "request_id": "r-2",
        },
        {"incident_id": second, "action": "created", "actor_id": responder, "created_at": at(2), "note": None},
        {"incident_id": first, "action": "note_added", "actor_id": responder, "created_at": at(3), "note": "n"},
        {"incident_id": second, "action": "archived", "actor_id": admin, "created_at": at(4), "note": None},
        {"incident_id": second, "action": "restored", "actor_id": admin, "created_at": at(5), "note": None},
        {"incident_id": first, "action": "note_added", "actor_id": None, "created_at": at(5), "note": "seeded"},
    ]
    ids = insert_events(db_session, *rows)
    return {"first": first, "second": second, **{f"e{n}": event_id for n, event_id in enumerate(ids, start=1)}}


def audit_ids(admin, history, **params) -> list[str]:
    response = admin.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    names = {event_id: name for name, event_id in history.items() if name.startswith("e")}
    found = [names[item["id"]] for item in body["items"]]
    assert body["total"] == len(found), body
    return found


def test_the_audit_log_is_newest_first_with_ties_by_id(clients, history):
    assert audit_ids(clients[Role.ADMIN], history) == ["e7", "e6", "e5", "e4", "e3", "e2", "e1"]


def test_an_audit_item_is_the_whole_event(clients, history, refs):
    body = clients[Role.ADMIN].get(AUDIT, params={"action": "updated"}).json()

    assert body == {
        "items": [
            {
                "id": history["e2"],
                "incident_id": history["first"],
                "action": "updated",
                "actor": refs[Role.RESPONDER],
                "changes": {"title": {"old": "a", "new": "b"}},
                "note": None,
                "details": None,
                "request_id": "r-2",
                "created_at": body["items"][0]["created_at"],
            }
        ],
        "total": 1,
        "page": 1,
        "limit": 50,
        "pages": 1,
    }
    assert parse_time(body["items"][0]["created_at"]) == at(1)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"actor_id": "admin"}, ["e6", "e5", "e1"], id="actor-admin"),
        pytest.param({"actor_id": "responder"}, ["e4", "e3", "e2"], id="actor-responder"),
        pytest.param({"actor_id": "viewer"}, [], id="actor-without-events"),
        pytest.param({"actor_id": 999999}, [], id="actor-unknown"),
        pytest.param({"incident_id": "first"}, ["e7", "e4", "e2", "e1"], id="incident"),
        pytest.param({"incident_id": 999999}, [], id="incident-unknown"),
        pytest.param({"action": "created"}, ["e3", "e1"], id="action"),
        pytest.param({"action": ["archived", "restored"]}, ["e6", "e5"], id="action-repeated"),
        pytest.param(
            {"action": ["note_added", "created", "updated"]}, ["e7", "e4", "e3", "e2", "e1"], id="action-three"
        ),
        pytest.param({"incident_id": "second", "action": "created"}, ["e3"], id="incident-and-action"),
        pytest.param({"actor_id": "admin", "incident_id": "first"}, ["e1"], id="actor-and-incident"),
        pytest.param(
            {"actor_id": "responder", "action": ["note_added", "updated"], "incident_id": "first"},
            ["e4", "e2"],
            id="all-three",
        ),
    ],
)
def test_the_audit_log_filters(clients, accounts, history, params, expected):
    resolved = {
        key: accounts[Role(value)].id
        if key == "actor_id" and isinstance(value, str)
        else history[value]
        if key == "incident_id" and isinstance(value, str)
        else value
        for key, value in params.items()
    }

    assert audit_ids(clients[Role.ADMIN], history, **resolved) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"since": at(2)}, ["e7", "e6", "e5", "e4", "e3"], id="since-is-inclusive"),
        pytest.param({"until": at(2)}, ["e2", "e1"], id="until-is-exclusive"),
        pytest.param({"since": at(1), "until": at(4)}, ["e4", "e3", "e2"], id="between"),
        pytest.param({"since": at(2), "until": at(2)}, [], id="empty-range"),
        pytest.param({"since": at(0, 1)}, ["e7", "e6", "e5", "e4", "e3", "e2"], id="since-one-microsecond-later"),
        pytest.param({"until": at(0, 1)}, ["e1"], id="until-one-microsecond-later"),
        pytest.param({"since": at(5)}, ["e7", "e6"], id="since-the-last-instant"),
        pytest.param({"since": at(5, 1)}, [], id="since-after-everything"),
        pytest.param({"since": at(3), "action": "note_added"}, ["e7", "e4"], id="with-a-filter"),
    ],
)
@pytest.mark.parametrize("offset", ["+00:00", "Z", "+02:00", "-05:30"])
def test_the_audit_log_time_range_has_exact_boundaries(clients, history, params, expected, offset):
    def written(moment: datetime) -> str:
        """The same instant, written with this offset."""
        if offset == "Z":
            return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        sign = 1 if offset[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        text = moment.astimezone(zone).isoformat()
        assert text.endswith(offset), text
        return text

    resolved = {key: written(value) if isinstance(value, datetime) else value for key, value in params.items()}

    assert audit_ids(clients[Role.ADMIN], history, **resolved) == expected


def test_the_audit_log_pages(clients, history):
    admin = clients[Role.ADMIN]

    second = admin.get(AUDIT, params={"limit": 3, "page": 2}).json()
    third = admin.get(AUDIT, params={"limit": 3, "page": 3}).json()

    names = {event_id: name for name, event_id in history.items()}
    assert [names[item["id"]] for item in second["items"]] == ["e4", "e3", "e2"]
    assert [names[item["id"]] for item in third["items"]] == ["e1"]
    assert {key: second[key] for key in ("total", "page", "limit", "pages")} == {
        "total": 7,
        "page": 2,
        "limit": 3,
        "pages": 3,
    }
    assert admin.get(AUDIT, params={"limit": 3, "page": 4}).json()["items"] == []
    assert admin.get(AUDIT, params={"limit": 2, "action": "created"}).json()["total"] == 2


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        pytest.param({"since": "2024-01-01T12:00:00"}, "since", id="since-naive"),
        pytest.param({"until": "2024-01-01T12:00:00.123456"}, "until", id="until-naive"),
        pytest.param({"since": "2024-01-01"}, "since", id="since-a-date"),
        pytest.param({"since": "yesterday"}, "since", id="since-words"),
        pytest.param({"since": "1704110400"}, "since", id="since-unix-time"),
        pytest.param({"until": "1704110400.5"}, "until", id="until-unix-time"),
        pytest.param({"until": "9999-12-31T23:59:59-14:00"}, "until", id="until-after-9999-in-utc"),
        pytest.param({"since": "0001-01-01T00:00:00+14:00"}, "since", id="since-before-1-in-utc"),
        pytest.param({"since": "9999-12-31T23:59:59.999999-00:01"}, "since", id="since-one-minute-past-9999"),
        pytest.param({"action": "deleted"}, "action", id="action-unknown"),
        pytest.param({"action": ["created", "CREATED"]}, "action", id="action-one-bad-of-two"),
        pytest.param({"actor_id": 0}, "actor_id", id="actor_id-0"),
        pytest.param({"actor_id": "admin"}, "actor_id", id="actor_id-not-a-number"),
        pytest.param({"incident_id": -1}, "incident_id", id="incident_id-negative"),
        pytest.param({"limit": 101}, "limit", id="limit-101"),
        pytest.param({"limit": 0}, "limit", id="limit-0"),
        pytest.param({"page": 0}, "page", id="page-0"),
    ],
)
def test_the_audit_log_refuses_bad_filters(clients, history, params, loc):
    assert_invalid(clients[Role.ADMIN].get(AUDIT, params=params), ("query", loc))


@pytest.mark.parametrize("path", [AUDIT, "/api/audit/export"])
def test_a_time_utc_cannot_show_is_a_422_naming_it(clients, history, path):
    body = assert_invalid(
        clients[Role.ADMIN].get(path, params={"until": "9999-12-31T23:59:59-14:00"}), ("query", "until")
    )

    assert body["errors"][0]["type"] == "datetime_out_of_range"


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00"])
def test_the_extreme_times_utc_can_show_are_accepted(clients, history, moment):
    assert clients[Role.ADMIN].get(AUDIT, params={"since": moment}).status_code == 200


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_the_audit_log_is_for_admins_only(clients, anonymous, history, role):
    body = assert_problem(clients[role].get(AUDIT), 403)

    assert body["detail"] == f"This needs the admin role; you are signed in as {role.value}."
    assert_problem(anonymous.get(AUDIT), 401)


def test_the_audit_log_holds_what_the_api_did(client, clients, db_session):
    admin = clients[Role.ADMIN]
    incident_id = make_incident(client)["id"]
    client.patch(f"/api/incidents/{incident_id}", json={"severity": "SEV1"})
    client.post(f"/api/incidents/{incident_id}/notes", json={"text": "note"})
    admin.delete(f"/api/incidents/{incident_id}")
    admin.post(f"/api/incidents/{incident_id}/restore")

    items = admin.get(AUDIT).json()["items"]

    assert [item["action"] for item in items] == ["restored", "archived", "note_added", "updated", "created"]
    assert [as_stored_event(item) for item in reversed(items)] == stored_events(db_session)
