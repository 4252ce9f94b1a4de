"""The live feed (/api/live) through Starlette's WebSocket test client, on SQLite and MariaDB: authentication by
the first message, the messages of every change in commit order, visibility per role, resume and resync, token
expiry, deactivation, keep-alive and the slow client."""

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.main import create_app
from app.models import LiveEvent, Role
from app.schemas import IncidentCreate
from app.security import create_access_token
from app.services import incidents as incident_service
from app.services import outbox
from app.services.audit import Actor
from tests.api.helpers import API, UNREACHABLE_DATABASES, incident_payload, make_incident

LIVE = "/api/live"
PAGES = "http://127.0.0.1:5500"
# The settings of the app under test: short enough for a test to see a check, an absent auth message or a ping.
LIVE_SETTINGS = {"live_auth_timeout_seconds": 1.0, "live_account_check_seconds": 0.3, "live_ping_seconds": 0.4}


@pytest.fixture(scope="module")
def app(database_url: str) -> FastAPI:
    """The API suite's app (this module's `client`, `clients` and `accounts` use it), with the short live settings."""
    return create_app(Settings(database_url=database_url, app_env="test", cors_origins=[], **LIVE_SETTINGS))


WAIT_SECONDS = 10


def next_message(ws) -> dict[str, Any]:
    """The next message the server sends (raising WebSocketDisconnect when it closes), failing rather than waiting
    for ever."""

    async def within() -> dict[str, Any]:
        with anyio.fail_after(WAIT_SECONDS):
            return await ws._send_rx.receive()

    message = ws.portal.call(within)
    ws._raise_on_close(message)
    return json.loads(message["text"])


def receive(ws, *, pings: bool = False) -> dict[str, Any]:
    """The next message (skipping keep-alive pings unless asked for them)."""
    while True:
        message = next_message(ws)
        if pings or message != {"type": "ping"}:
            return message


class Sockets:
    """The test's WebSocket sessions, each ended (and its server side awaited) at the end of the test at the latest."""

    def __init__(self) -> None:
        self.open: list[Any] = []

    def connect(self, client: TestClient, token: str | None, after: Any = None, **options: Any):
        ws = client.websocket_connect(LIVE, **options)
        ws.__enter__()
        self.open.append(ws)
        ws.send_json({"type": "auth", "token": token, "after": after})
        return ws

    def ready(self, client: TestClient, token: str, after: str | None = None):
        ws = self.connect(client, token, after)
        message = receive(ws)
        assert message["type"] == "ready", message
        assert set(message) == {"type", "cursor"}
        return ws, message["cursor"]

    def leave(self, ws) -> None:
        if ws in self.open:
            self.open.remove(ws)
            with contextlib.suppress(Exception):
                ws.__exit__(None, None, None)


@pytest.fixture
def sockets(client: TestClient) -> Iterator[Sockets]:
    """Ended before `client` (which empties the tables)."""
    opened = Sockets()
    yield opened
    for ws in list(opened.open):
        opened.leave(ws)


def close_code(ws) -> int:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            next_message(ws)
    return closed.value.code


def as_api_shows(client: TestClient, admin: TestClient, incident_id: int) -> tuple[list[dict], dict]:
    """The incident's timeline and the incident, as an admin reads them through the API now."""
    events = admin.get(f"{API}{incident_id}/events").json()["items"]
    incident = admin.get(f"{API}{incident_id}", params={"archived": "true"}).json()
    return events, incident


def test_every_change_reaches_an_admin_as_the_api_shows_it_in_commit_order(clients, accounts, sockets):
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    ws, cursor = sockets.ready(admin, accounts[Role.ADMIN].token)
    try:
        created = make_incident(responder)
        incident_id = created["id"]
        after_create = admin.get(f"{API}{incident_id}").json()
        assert responder.patch(f"{API}{incident_id}", json={"status": "MITIGATED"}).status_code == 200
        after_update = admin.get(f"{API}{incident_id}").json()
        assert responder.post(f"{API}{incident_id}/notes", json={"text": "Rolled back"}).status_code == 201
        assert admin.delete(f"{API}{incident_id}").status_code == 200
        after_archive = admin.get(f"{API}{incident_id}", params={"archived": "true"}).json()
        assert admin.post(f"{API}{incident_id}/restore").status_code == 200
        events, after_restore = as_api_shows(responder, admin, incident_id)

        messages = [receive(ws) for _ in range(5)]
    finally:
        sockets.leave(ws)

    assert [set(m) for m in messages] == [{"type", "cursor", "event", "incident"}] * 5
    assert [m["type"] for m in messages] == ["event"] * 5
    assert [m["event"] for m in messages] == events
    assert [m["event"]["action"] for m in messages] == ["created", "updated", "note_added", "archived", "restored"]
    assert [m["incident"] for m in messages] == [
        after_create,
        after_update,
        after_update,
        after_archive,
        after_restore,
    ]
    positions = [outbox.decode_cursor(m["cursor"]) for m in messages]
    assert positions == list(range(outbox.decode_cursor(cursor) + 1, outbox.decode_cursor(cursor) + 6))


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_an_archive_reaches_others_as_removed_and_a_restore_like_a_create(clients, accounts, role, sockets):
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    ws, _ = sockets.ready(clients[role], accounts[role].token)
    try:
        incident_id = make_incident(responder)["id"]
        created = admin.get(f"{API}{incident_id}").json()
        admin.delete(f"{API}{incident_id}")
        admin.post(f"{API}{incident_id}/restore")
        events, restored = as_api_shows(responder, admin, incident_id)
        other = make_incident(responder, title="After the restore")
        messages = [receive(ws) for _ in range(4)]
    finally:
        sockets.leave(ws)

    assert messages[0] == {"type": "event", "cursor": messages[0]["cursor"], "event": events[0], "incident": created}
    assert messages[1] == {"type": "removed", "cursor": messages[1]["cursor"], "incident_id": incident_id}
    assert messages[2] == {"type": "event", "cursor": messages[2]["cursor"], "event": events[2], "incident": restored}
    assert messages[3]["incident"] == other
    assert [m["event"]["action"] for m in (messages[0], messages[2], messages[3])] == ["created", "restored", "created"]


def test_a_change_that_rolls_back_is_never_sent(client, clients, accounts, sockets):
    ws, _ = sockets.ready(client, accounts[Role.VIEWER].token)
    user = None

    async def roll_back_a_create() -> None:
        nonlocal user
        async with client.app.state.session_factory() as session:
            from app.models import User

            user = await session.get(User, accounts[Role.RESPONDER].id)
            await incident_service.create_incident(session, IncidentCreate(**incident_payload()), Actor(user))
            await session.rollback()

    try:
        client.portal.call(roll_back_a_create)
        kept = make_incident(client, title="The one that stays")
        message = receive(ws)
    finally:
        sockets.leave(ws)

    assert message["incident"] == kept
    assert client.get(API).json()["total"] == 1


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not-a-token", "after": None},
        {"type": "auth", "token": None, "after": None},
        {"type": "auth", "after": None},
        {"type": "hello"},
        "auth",
    ],
    ids=["garbage", "null", "missing", "wrong-type", "not-an-object"],
)
def test_a_bad_or_missing_token_closes_4401(client, first):
    with client.websocket_connect(LIVE) as ws:
        ws.send_text(json.dumps(first))
        assert close_code(ws) == 4401


def test_an_expired_or_foreign_token_closes_4401(client, accounts, sockets):
    viewer = accounts[Role.VIEWER]
    secret = client.app.state.settings.secret_key
    expired = create_access_token(str(viewer.id), secret, timedelta(seconds=-1))
    foreign = create_access_token(str(viewer.id), "another-secret-key-0123456789abcdefghij", timedelta(hours=1))
    for token in (expired, foreign):
        ws = sockets.connect(client, token)
        assert close_code(ws) == 4401


def test_no_auth_message_within_the_timeout_closes_4401(client):
    started = time.monotonic()
    with client.websocket_connect(LIVE) as ws:
        assert close_code(ws) == 4401
    assert 0.9 <= time.monotonic() - started < 5


def test_a_handshake_from_a_foreign_origin_is_refused(client, accounts, sockets):
    foreign = {"Origin": "https://evil.example"}
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(LIVE, headers=foreign):
        pass
    assert refused.value.code == 1008

    ws = sockets.connect(client, accounts[Role.VIEWER].token, headers={"Origin": PAGES})
    try:
        assert receive(ws)["type"] == "ready"
    finally:
        sockets.leave(ws)


def test_a_client_that_resumes_gets_every_change_since_its_cursor_once_in_order(client, accounts, sockets):
    token = accounts[Role.VIEWER].token
    ws, _ = sockets.ready(client, token)
    first = make_incident(client, title="Seen before leaving")
    cursor = receive(ws)["cursor"]
    sockets.leave(ws)

    missed = [make_incident(client, title=f"Missed {n}") for n in range(5)]
    ws, resumed_at = sockets.ready(client, token, after=cursor)
    try:
        replayed = [receive(ws) for _ in range(5)]
        live = make_incident(client, title="Live again")
        after = receive(ws)
    finally:
        sockets.leave(ws)

    assert resumed_at == cursor
    assert [m["incident"] for m in replayed] == missed
    assert after["incident"] == live
    positions = [outbox.decode_cursor(m["cursor"]) for m in [*replayed, after]]
    assert positions == list(range(outbox.decode_cursor(cursor) + 1, outbox.decode_cursor(cursor) + 7))
    assert first["id"] not in {m["incident"]["id"] for m in replayed}


def test_a_cursor_older_than_the_outbox_keeps_gets_resync(client, accounts, db_session, sockets):
    token = accounts[Role.VIEWER].token
    ws, start = sockets.ready(client, token)
    make_incident(client)
    cursor = receive(ws)["cursor"]
    sockets.leave(ws)
    make_incident(client, title="One")
    make_incident(client, title="Two")
    db_session.execute(delete(LiveEvent).where(LiveEvent.position <= outbox.decode_cursor(cursor) + 1))
    db_session.commit()

    ws = sockets.connect(client, token, after=cursor)
    try:
        head = receive(ws)
        assert receive(ws) == {"type": "resync"}
        live = make_incident(client, title="Live")
        assert receive(ws)["incident"] == live
    finally:
        sockets.leave(ws)
    assert outbox.decode_cursor(head["cursor"]) == outbox.decode_cursor(start) + 3

    # The cursor just before the oldest one kept still resumes.
    ws, _ = sockets.ready(client, token, after=outbox.encode_cursor(outbox.decode_cursor(cursor) + 1))
    try:
        assert receive(ws)["incident"]["title"] == "Two"
    finally:
        sockets.leave(ws)


def test_a_cursor_from_the_future_gets_resync_and_a_malformed_one_closes_4400(client, accounts, sockets):
    token = accounts[Role.VIEWER].token
    ws = sockets.connect(client, token, after=outbox.encode_cursor(10**9))
    try:
        assert receive(ws)["type"] == "ready"
        assert receive(ws) == {"type": "resync"}
    finally:
        sockets.leave(ws)
    for bad in ("nonsense", "AAAAAAAAAA*", 12):
        ws = sockets.connect(client, token, after=bad)
        assert close_code(ws) == 4400


def test_the_connection_ends_4401_when_its_token_expires(client, accounts, sockets):
    viewer = accounts[Role.VIEWER]
    token = create_access_token(str(viewer.id), client.app.state.settings.secret_key, timedelta(seconds=2))
    ws, _ = sockets.ready(client, token)
    started = time.monotonic()
    assert close_code(ws) == 4401
    assert 0.5 <= time.monotonic() - started < 4


@pytest.mark.parametrize("change", [{"is_active": False}, {"password": "a brand new passphrase"}])
def test_the_connection_ends_4401_when_its_account_is_deactivated_or_its_password_changed(
    clients, accounts, change, sockets
):
    admin = clients[Role.ADMIN]
    ws, _ = sockets.ready(admin, accounts[Role.VIEWER].token)
    other, _ = sockets.ready(admin, accounts[Role.RESPONDER].token)
    try:
        response = admin.patch(f"/api/users/{accounts[Role.VIEWER].id}", json=change)
        assert response.status_code == 200, response.text
        started = time.monotonic()
        assert close_code(ws) == 4401
        assert time.monotonic() - started < 3
        incident = make_incident(clients[Role.RESPONDER])
        assert receive(other)["incident"] == incident  # the others stay
    finally:
        sockets.leave(other)


def test_a_demoted_admin_stops_getting_archived_incidents(clients, accounts, db_session, sockets):
    admin = clients[Role.ADMIN]
    second = admin.post(
        "/api/users",
        json={"email": "second@example.com", "display_name": "Second", "role": "admin", "password": "x" * 12},
    ).json()
    token = create_access_token(str(second["id"]), admin.app.state.settings.secret_key, timedelta(hours=1))
    ws, _ = sockets.ready(admin, token)
    try:
        assert admin.patch(f"/api/users/{second['id']}", json={"role": "viewer"}).status_code == 200
        time.sleep(0.8)  # more than one account check
        incident_id = make_incident(clients[Role.RESPONDER])["id"]
        assert receive(ws)["event"]["action"] == "created"
        admin.delete(f"{API}{incident_id}")
        assert receive(ws) == {
            "type": "removed",
            "cursor": last_cursor(admin),
            "incident_id": incident_id,
        }
    finally:
        sockets.leave(ws)


def last_cursor(admin: TestClient) -> str:
    """The cursor of the last change committed."""
    return outbox.encode_cursor(admin.portal.call(_last_position, admin.app))


async def _last_position(app: FastAPI) -> int:
    async with app.state.engine.connect() as connection:
        return await outbox.head(connection)


def test_an_idle_connection_gets_pings(client, accounts, sockets):
    ws, _ = sockets.ready(client, accounts[Role.VIEWER].token)
    try:
        started = time.monotonic()
        assert receive(ws, pings=True) == {"type": "ping"}
        assert receive(ws, pings=True) == {"type": "ping"}
        assert 0.6 <= time.monotonic() - started < 3
    finally:
        sockets.leave(ws)


def test_a_client_that_cannot_keep_up_is_dropped_4408_and_resumes(database_url, db_engine, accounts):
    """Five changes committed together reach a queue of two at once: the client is dropped (not buffered), and
    resuming with its cursor gets all five."""
    settings = Settings(database_url=database_url, app_env="test", cors_origins=[], live_queue_size=2)
    app = create_app(settings)
    token = accounts[Role.VIEWER].token
    from tests.conftest import clear_tables

    try:
        sockets = Sockets()
        with TestClient(app) as client:
            ws, cursor = sockets.ready(client, token)

            async def five_in_one_transaction() -> None:
                from app.models import User

                async with app.state.session_factory() as session:
                    user = await session.get(User, accounts[Role.RESPONDER].id)
                    for n in range(5):
                        data = IncidentCreate(**incident_payload(title=f"Burst {n}"))
                        await incident_service.create_incident(session, data, Actor(user))
                    await session.commit()

            client.portal.call(five_in_one_transaction)
            assert close_code(ws) == 4408
            sockets.leave(ws)

            ws, _ = sockets.ready(client, token, after=cursor)
            try:
                titles = [receive(ws)["incident"]["title"] for _ in range(5)]
            finally:
                sockets.leave(ws)
        assert titles == [f"Burst {n}" for n in range(5)]
    finally:
        clear_tables(db_engine)


def test_with_redis_unreachable_writes_succeed_and_the_process_still_delivers(database_url, db_engine, accounts):
    """REDIS_URL names a port nobody listens on: every write still commits, and this process's clients still get
    its changes (its own doorbell needs no Redis)."""
    from tests.conftest import clear_tables

    settings = Settings(database_url=database_url, app_env="test", cors_origins=[], redis_url="redis://127.0.0.1:9/0")
    app = create_app(settings)
    sockets = Sockets()
    try:
        with TestClient(app, headers=accounts[Role.RESPONDER].headers) as client:
            ws, _ = sockets.ready(client, accounts[Role.VIEWER].token)
            made = [make_incident(client, title=f"While Redis is down {n}") for n in range(3)]
            got = [receive(ws)["incident"] for _ in range(3)]
            sockets.leave(ws)
        assert got == made
    finally:
        clear_tables(db_engine)


def test_an_export_is_not_a_live_event(clients, accounts, sockets):
    """An export writes an audit event with no incident: it is in the audit log, not in the live feed."""
    ws, cursor = sockets.ready(clients[Role.ADMIN], accounts[Role.ADMIN].token)
    try:
        response = clients[Role.VIEWER].get("/api/incidents/export")
        assert response.status_code == 200, response.text
        assert clients[Role.ADMIN].get("/api/audit").json()["items"][0]["action"] == "exported"
        incident = make_incident(clients[Role.RESPONDER])
        message = receive(ws)
    finally:
        sockets.leave(ws)
    assert message["incident"] == incident
    assert outbox.decode_cursor(message["cursor"]) == outbox.decode_cursor(cursor) + 1


def test_a_change_of_commander_reaches_the_feed_with_the_commander_and_the_change(clients, accounts, sockets):
    responder = clients[Role.RESPONDER]
    commander = {"id": accounts[Role.VIEWER].id, "display_name": accounts[Role.VIEWER].display_name}
    ws, _ = sockets.ready(clients[Role.VIEWER], accounts[Role.VIEWER].token)
    try:
        incident = make_incident(responder, commander_id=commander["id"])
        cleared = responder.patch(f"{API}{incident['id']}", json={"commander_id": None}).json()
        created, updated = receive(ws), receive(ws)
    finally:
        sockets.leave(ws)
    assert (created["incident"]["commander"], created["event"]["changes"]["commander"]) == (
        commander,
        {"old": None, "new": commander},
    )
    assert created["incident"] == incident
    assert updated["incident"] == cleared
    assert cleared["commander"] is None
    assert updated["event"]["changes"] == {"commander": {"old": commander, "new": None}}


@pytest.mark.parametrize("database_url", UNREACHABLE_DATABASES)
def test_a_connection_closes_1013_and_logs_once_when_the_database_does_not_answer(database_url, caplog):
    """The account cannot be looked up: the socket closes 1013 (try again later) at once, not hung, with one
    warning in the log (no traceback) for it."""
    broken = create_app(Settings(database_url=database_url, app_env="test", cors_origins=[], **LIVE_SETTINGS))
    token = create_access_token("1", broken.state.settings.secret_key, timedelta(hours=1))
    sockets = Sockets()
    with caplog.at_level(logging.WARNING, logger="app.live"), TestClient(broken) as client:
        started = time.monotonic()
        ws = sockets.connect(client, token)
        try:
            code = close_code(ws)
        finally:
            sockets.leave(ws)
        took = time.monotonic() - started
    assert code == 1013
    assert took < 3
    closing = [r for r in caplog.records if r.name == "app.live" and "a connection closes 1013" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in closing] == [(logging.WARNING, None)]


@pytest.mark.parametrize("database_url", UNREACHABLE_DATABASES)
def test_a_feed_whose_database_does_not_answer_says_so_once_while_it_retries(database_url, caplog):
    """The reader retries every second until it reaches the database, with one warning (no traceback), not one per
    attempt."""
    broken = create_app(Settings(database_url=database_url, app_env="test", cors_origins=[], **LIVE_SETTINGS))
    with caplog.at_level(logging.INFO, logger="app.live"), TestClient(broken):
        time.sleep(2.5)  # the first attempt and two retries
    said = [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records if r.name == "app.live"]
    assert said == [(logging.WARNING, "live feed: the database is not answering (OperationalError); retrying", None)]
