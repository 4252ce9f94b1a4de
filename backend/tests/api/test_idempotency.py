"""Idempotency-Key on POST /api/incidents/ and POST /api/incidents/{id}/notes: a repeat replays the first answer
and creates nothing; another body or endpoint is a 422; a request still in flight is a 409."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.database import create_async_db_engine, create_session_factory, utcnow
from app.errors import AppError
from app.models import IdempotencyKey, Incident, IncidentEvent, Role
from app.services import idempotency
from app.services.idempotency import fingerprint
from tests.api.helpers import API, assert_invalid, assert_problem, count_incidents, incident_payload, make_incident
from tests.api.test_versions import run_together
from tests.conftest import run_async

KEY = "create-7f3c2a"


def create(client, key=KEY, **overrides):
    return client.post(API, json=incident_payload(**overrides), headers={"Idempotency-Key": key})


def count_events(db_session, action):
    db_session.rollback()
    return db_session.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.action == action))


def stored_keys(db_session):
    db_session.rollback()
    return list(db_session.scalars(select(IdempotencyKey).order_by(IdempotencyKey.id)))


def test_the_same_key_replays_the_first_answer_and_creates_nothing(client, db_session):
    first = create(client)
    again = create(client)

    assert first.status_code == 201, first.text
    assert (again.status_code, again.content, again.headers["location"]) == (
        201,
        first.content,
        f"/api/incidents/{first.json()['id']}",
    )
    assert first.headers["location"] == again.headers["location"]
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert client.get(first.headers["location"]).json() == first.json()  # the incident as every answer shows it
    assert count_incidents(db_session) == 1
    assert count_events(db_session, "created") == 1


def test_the_replay_is_the_first_answer_even_after_the_incident_changed(client, db_session):
    first = create(client)
    client.patch(f"{API}{first.json()['id']}", json={"title": "Renamed"})

    again = create(client)

    assert (again.status_code, again.json()) == (201, first.json())
    assert count_incidents(db_session) == 1


def test_the_same_body_as_understood_is_the_same_request(client, db_session):
    """Fields in another order, surrounding spaces, a default spelt out: the same incident, so a replay."""
    first = client.post(API, json={"title": "T", "service": "s", "severity": "SEV3"}, headers={"Idempotency-Key": KEY})
    again = client.post(
        API,
        json={"severity": "SEV3", "status": "OPEN", "service": " s ", "title": "T"},
        headers={"Idempotency-Key": KEY},
    )

    assert (again.status_code, again.json()) == (201, first.json())
    assert count_incidents(db_session) == 1


def test_the_same_key_with_another_body_is_a_422_naming_the_header(client, db_session):
    create(client)

    response = create(client, title="Another incident")

    assert_invalid(response, ("header", "Idempotency-Key"))
    assert count_incidents(db_session) == 1


def test_the_same_key_on_another_endpoint_is_a_422(client, db_session):
    incident = create(client).json()

    response = client.post(f"{API}{incident['id']}/notes", json={"text": "n"}, headers={"Idempotency-Key": KEY})

    assert_invalid(response, ("header", "Idempotency-Key"))
    assert count_events(db_session, "note_added") == 0


def test_keys_are_per_account(clients, db_session):
    mine = create(clients[Role.RESPONDER])
    theirs = create(clients[Role.ADMIN])

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert count_incidents(db_session) == 2


def test_keys_differ_by_case(client, db_session):
    assert create(client, key="abc").status_code == 201
    assert create(client, key="ABC").status_code == 201
    assert count_incidents(db_session) == 2


def test_without_a_key_every_post_creates(client, db_session):
    make_incident(client)
    make_incident(client)

    assert count_incidents(db_session) == 2
    assert stored_keys(db_session) == []


def test_only_the_hash_of_the_key_is_stored_with_the_answer(client, db_session, accounts):
    first = create(client)

    (row,) = stored_keys(db_session)
    assert (row.user_id, row.key_hash, row.method, row.path) == (
        accounts[Role.RESPONDER].id,
        hashlib.sha256(KEY.encode()).hexdigest(),
        "POST",
        "/api/incidents",
    )
    assert (row.status_code, row.body.encode(), row.location) == (201, first.content, first.headers["location"])


def test_the_path_without_a_trailing_slash_is_the_same_endpoint(client, db_session):
    first = create(client)
    again = client.post("/api/incidents", json=incident_payload(), headers={"Idempotency-Key": KEY})

    assert (again.status_code, again.content) == (201, first.content)
    assert count_incidents(db_session) == 1


@pytest.mark.parametrize("key", ["x" * 256, "tab\there", "bell\x07", "", "del\x7f"])
def test_an_overlong_empty_or_control_character_key_is_a_422_naming_the_header(client, db_session, key):
    response = client.post(API, json=incident_payload(), headers=[(b"Idempotency-Key", key.encode())])

    assert_invalid(response, ("header", "Idempotency-Key"))
    assert count_incidents(db_session) == 0


def test_a_key_of_255_characters_is_accepted(client):
    key = "k" * 255

    assert [create(client, key=key).status_code for _ in range(2)] == [201, 201]


def test_a_refused_create_stores_no_key_and_a_retry_runs(client, db_session):
    assert_invalid(create(client, severity="SEV9"), ("body", "severity"))

    assert create(client, severity="SEV9").status_code == 422
    assert stored_keys(db_session) == []
    assert create(client).status_code == 201


# --- in flight, forgotten, abandoned -------------------------------------------------------------------------


def claim_directly(db_session, user_id, *, age=timedelta(0), answered=False, body=None):
    """A claim of KEY as another request would have left it: in flight (no answer) or answered, `age` ago."""
    db_session.add(
        IdempotencyKey(
            user_id=user_id,
            key_hash=hashlib.sha256(KEY.encode()).hexdigest(),
            method="POST",
            path="/api/incidents",
            fingerprint=fingerprint(
                body or {**incident_payload(), "status": "OPEN", "description": None, "commander_id": None}
            ),
            status_code=201 if answered else None,
            body='{"stored": true, "version": 4}' if answered else None,
            location="/api/incidents/999" if answered else None,
            created_at=utcnow() - age,
        )
    )
    db_session.commit()


def test_while_the_first_request_is_in_flight_a_repeat_is_a_409(client, db_session, accounts):
    claim_directly(db_session, accounts[Role.RESPONDER].id)

    response = create(client)

    assert_problem(response, 409)
    assert response.headers["retry-after"] == "1"
    assert count_incidents(db_session) == 0


def test_a_claim_left_in_flight_by_a_request_that_died_is_taken_over(client, db_session, accounts):
    claim_directly(db_session, accounts[Role.RESPONDER].id, age=timedelta(minutes=6))

    first = create(client)
    again = create(client)

    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    assert count_incidents(db_session) == 1


def test_a_key_older_than_24_hours_is_forgotten(client, db_session, accounts):
    claim_directly(db_session, accounts[Role.RESPONDER].id, age=timedelta(hours=24, minutes=1), answered=True)

    response = create(client)

    assert response.status_code == 201, response.text
    assert response.json()["title"] == incident_payload()["title"]
    assert count_incidents(db_session) == 1
    assert [row.status_code for row in stored_keys(db_session)] == [201]


def test_a_key_younger_than_24_hours_still_replays(client, db_session, accounts):
    claim_directly(db_session, accounts[Role.RESPONDER].id, age=timedelta(hours=23, minutes=59), answered=True)

    response = create(client)

    assert (response.status_code, response.json(), response.headers["location"]) == (
        201,
        {"stored": True, "version": 4},
        "/api/incidents/999",
    )
    assert response.headers["etag"] == '"4"'
    assert count_incidents(db_session) == 0


def test_concurrent_posts_with_one_key_create_one_incident(client, db_session):
    responses = run_together([lambda: create(client) for _ in range(6)])

    created = [response for response in responses if response.status_code == 201]
    assert created, [response.text for response in responses]
    assert {response.content for response in created} == {created[0].content}
    assert sorted({response.status_code for response in responses}) in ([201], [201, 409])
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
    assert count_incidents(db_session) == 1
    assert count_events(db_session, "created") == 1


# --- notes ---------------------------------------------------------------------------------------------------


def test_a_note_with_a_key_is_added_once(client, db_session):
    incident = make_incident(client)
    notes = f"{API}{incident['id']}/notes"

    first = client.post(notes, json={"text": "Rolled back"}, headers={"Idempotency-Key": KEY})
    again = client.post(notes, json={"text": "Rolled back"}, headers={"Idempotency-Key": KEY})
    other = client.post(notes, json={"text": "Something else"}, headers={"Idempotency-Key": KEY})

    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    assert "location" not in again.headers
    assert_invalid(other, ("header", "Idempotency-Key"))
    assert count_events(db_session, "note_added") == 1


def test_the_same_note_key_on_another_incident_is_a_422(client, db_session):
    one, two = make_incident(client), make_incident(client)
    client.post(f"{API}{one['id']}/notes", json={"text": "n"}, headers={"Idempotency-Key": KEY})

    response = client.post(f"{API}{two['id']}/notes", json={"text": "n"}, headers={"Idempotency-Key": KEY})

    assert_invalid(response, ("header", "Idempotency-Key"))
    assert count_events(db_session, "note_added") == 1


def test_a_note_on_a_missing_incident_claims_no_key(client, db_session):
    assert_problem(client.post(f"{API}999/notes", json={"text": "n"}, headers={"Idempotency-Key": KEY}), 404)

    assert stored_keys(db_session) == []


# --- the claim, seen from a concurrent request -----------------------------------------------------------------


def test_a_claim_is_seen_by_a_concurrent_request_before_the_first_commits_and_a_failure_releases_it(
    database_url, accounts, db_session
):
    """The first request claims the key and writes its incident, not yet committed: a second request with the key
    gets 409. The first then fails: its work is rolled back and the key released, so the next request claims it."""
    user_id = accounts[Role.RESPONDER].id
    body = fingerprint({"title": "t"})
    outcomes = []

    async def second_request(factory):
        try:
            await idempotency.claim(factory, user_id, KEY, "POST", "/api/incidents", body)
        except AppError as exc:
            outcomes.append(exc.status)

    async def scenario():
        engine = create_async_db_engine(database_url)
        factory = create_session_factory(engine)
        try:
            async with factory() as request_session:
                first = await idempotency.claim(factory, user_id, KEY, "POST", "/api/incidents", body)
                await second_request(factory)
                request_session.add(Incident(title="t", service="s", severity="SEV1", status="OPEN", status_rank=0))
                await request_session.flush()  # written, not committed
                if engine.dialect.name != "sqlite":  # SQLite: a second writer would wait for the first's commit
                    await second_request(factory)
                # Released after the write: the release must not wait for the request's own locks.
                failed = RuntimeError("the create failed")  # a failure that is not the database's
                await idempotency.release(
                    request_session, factory, first.key_id, idempotency.PendingReleases(factory), failed
                )
            again = await idempotency.claim(factory, user_id, KEY, "POST", "/api/incidents", body)
            outcomes.append((again.key_id is not None, again.answer))
        finally:
            await engine.dispose()

    run_async(scenario())

    in_flight = [409] if "sqlite" in database_url else [409, 409]
    assert outcomes == [*in_flight, (True, None)]
    assert count_incidents(db_session) == 0  # the failed request's incident was rolled back
    assert [(row.status_code, row.body) for row in stored_keys(db_session)] == [(None, None)]
