"""A database that stops answering: every wait is bounded (DB_*_TIMEOUT_SECONDS), so a request gets a 503 with
Retry-After within the bound instead of hanging; a connection that timed out is dropped, not reused; a read that
lost its connection is tried once more, a write never.

MySQL runs behind a TCP proxy of the test's own (tests/stalling_proxy.py) that freezes, as a stopped server does, or
cuts every connection, as a restart does. SQLite stalls when another connection holds its write lock.
"""

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.config import Settings
from app.database import create_db_engine, is_unreachable
from app.errors import UNAVAILABLE_DETAIL
from app.main import create_app
from app.models import Incident, Role, Severity
from tests.api.conftest import add_account
from tests.api.helpers import API, assert_problem, count_incidents, incident_payload, on_the_same_loop
from tests.conftest import clear_tables
from tests.stalling_proxy import StallingProxy

# Small bounds, so that the tests are quick: a request may wait 1 s for the pool, then 1 s to connect or for an
# answer.
TIMEOUTS = {"db_connect_timeout_seconds": 1.0, "db_statement_timeout_seconds": 1.0, "db_pool_timeout_seconds": 1.0}
BOUND = Settings(**TIMEOUTS).database_timeouts.bound
# What a request may take beyond the bound on a loaded machine.
SLACK = 1.0

UNAVAILABLE = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": UNAVAILABLE_DETAIL}


def stall_app(url: str) -> FastAPI:
    # The live feed reads only when told (a commit), so that a test knows which request meets a dead connection first.
    return create_app(Settings(database_url=url, app_env="test", cors_origins=[], live_poll_seconds=60, **TIMEOUTS))


def responder_headers(app: FastAPI, engine: Engine, password_hash: str) -> dict[str, str]:
    clear_tables(engine)
    with Session(engine) as session, session.begin():
        return add_account(session, app, password_hash, Role.RESPONDER, "Responder").headers


def within(seconds: float, call: Callable[[], Response], on_timeout: Callable[[], None]) -> tuple[Response, float]:
    """`call()` and how long it took; a call still running after `seconds` fails the test (after `on_timeout()`,
    which lets it end), rather than hanging it."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(call)
        try:
            response = future.result(timeout=seconds)
        except FutureTimeout:
            on_timeout()
            future.result(timeout=60)
            pytest.fail(f"the request was still waiting after {seconds} s")
    return response, time.monotonic() - started


def assert_unavailable(response: Response) -> None:
    assert assert_problem(response, 503) == UNAVAILABLE
    assert response.headers["retry-after"] == "5"


# --- MySQL behind a proxy --------------------------------------------------------------------------------------


@pytest.fixture
def proxy(mysql_url: str) -> Iterator[StallingProxy]:
    parsed = make_url(mysql_url)
    with StallingProxy(parsed.host or "127.0.0.1", parsed.port or 3306) as running:
        yield running


@pytest.fixture
def mysql_engine(mysql_url: str) -> Iterator[Engine]:
    engine = create_db_engine(mysql_url)
    yield engine
    clear_tables(engine)
    engine.dispose()


@pytest.fixture
def behind_proxy(
    proxy: StallingProxy, mysql_url: str, mysql_engine: Engine, password_hash: str
) -> Iterator[tuple[TestClient, StallingProxy]]:
    """A responder's client of an app that reaches MySQL through the proxy (its pool already holds a connection)."""
    url = make_url(mysql_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = stall_app(url)
    headers = responder_headers(app, mysql_engine, password_hash)
    with TestClient(app, headers=headers, raise_server_exceptions=False) as client:
        assert client.get(API).status_code == 200
        yield client, proxy
        proxy.thaw()


@pytest.mark.mysql
@pytest.mark.parametrize("path", [API, "/api/health", "/api/auth/me"])
def test_a_frozen_database_is_a_503_within_the_bound(behind_proxy, path):
    client, proxy = behind_proxy
    proxy.freeze()

    response, seconds = within(BOUND + SLACK, lambda: client.get(path), proxy.thaw)

    assert_unavailable(response)
    assert seconds >= 1.0  # the statement timeout, not some other failure
    proxy.thaw()
    assert client.get(path).status_code == 200


@pytest.mark.mysql
def test_a_write_to_a_frozen_database_is_a_503_within_the_bound_and_done_at_most_once(behind_proxy, mysql_engine):
    client, proxy = behind_proxy
    proxy.freeze()

    response, _seconds = within(BOUND + SLACK, lambda: client.post(API, json=incident_payload()), proxy.thaw)

    assert_unavailable(response)
    proxy.thaw()
    with Session(mysql_engine) as session:
        assert count_incidents(session) == 0
    assert client.post(API, json=incident_payload()).status_code == 201
    with Session(mysql_engine) as session:
        assert count_incidents(session) == 1


@pytest.mark.mysql
def test_a_create_with_a_key_that_the_freeze_cuts_short_is_free_to_retry_once_the_database_is_back(
    behind_proxy, mysql_engine
):
    """The key was claimed, then the create met the freeze: its 503 does not wait on the database a second time to
    release the key (that is done in the background), and once the database is back a retry with the same key
    creates the incident, once, rather than hearing "in progress" (409) until the claim counts as abandoned."""
    client, proxy = behind_proxy
    body, headers = incident_payload(title="Keyed during a freeze"), {"Idempotency-Key": "freeze-1"}
    with mysql_engine.connect() as other:
        # The create's count update waits behind this lock; the server freezes while it waits.
        other.execute(text("SELECT * FROM incident_counts FOR UPDATE"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            future = pool.submit(lambda: client.post(API, json=body, headers=headers))
            time.sleep(0.5)  # claimed (its own transaction), now waiting for the lock
            proxy.freeze()
            response = future.result(timeout=BOUND + 2 * SLACK)
            seconds = time.monotonic() - started
        other.rollback()
    assert_unavailable(response)
    assert seconds < 0.5 + BOUND  # one wait on the frozen database, not a second one for the release
    proxy.thaw()

    deadline, answers = time.monotonic() + 15, []
    while time.monotonic() < deadline:
        answers.append(client.post(API, json=body, headers=headers).status_code)
        if answers[-1] != 409:
            break
        time.sleep(0.5)

    assert answers[-1] == 201, answers
    with Session(mysql_engine) as session:
        assert count_incidents(session) == 1


@pytest.mark.mysql
def test_a_frozen_server_that_is_connected_to_afresh_is_a_503_within_the_bound(
    proxy, mysql_url, mysql_engine, password_hash
):
    """No pooled connection: the connection being opened is bounded too (the kernel accepts it, the greeting never
    comes)."""
    url = make_url(mysql_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = stall_app(url)
    responder_headers(app, mysql_engine, password_hash)
    proxy.freeze()
    with TestClient(app, raise_server_exceptions=False) as client:
        response, seconds = within(BOUND + SLACK, lambda: client.get("/api/health"), proxy.thaw)

        assert_unavailable(response)
        assert seconds >= 1.0
        proxy.thaw()
        assert client.get("/api/health").status_code == 200


@pytest.mark.mysql
def test_after_a_freeze_no_connection_answers_with_a_late_answer(behind_proxy, mysql_engine):
    """The statement that timed out is delivered when the server resumes; its answer must not be read as the answer
    to the next request's statement (its connection was closed, not returned to the pool)."""
    client, proxy = behind_proxy
    first = client.post(API, json=incident_payload(title="First")).json()
    second = client.post(API, json=incident_payload(title="Second")).json()
    proxy.freeze()
    for _ in range(3):  # each on a connection of the pool, or a new one
        response, _seconds = within(BOUND + SLACK, lambda: client.get(f"{API}{first['id']}"), proxy.thaw)
        assert_unavailable(response)
    proxy.thaw()

    for _ in range(5):
        assert client.get(f"{API}{second['id']}").json()["title"] == "Second"
        assert client.get(f"{API}{first['id']}").json()["title"] == "First"
        assert [item["title"] for item in client.get(API).json()["items"]] == ["Second", "First"]


@pytest.mark.mysql
def test_a_read_that_lost_its_connection_is_tried_again_on_a_fresh_one(behind_proxy, caplog):
    client, proxy = behind_proxy
    created = client.post(API, json=incident_payload()).json()
    time.sleep(0.5)  # the live feed has read the new event (the commit rang it)
    proxy.cut()  # every pooled connection is now dead

    response = client.get(f"{API}{created['id']}")

    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    assert sum("trying once more" in record.getMessage() for record in caplog.records) == 1


@pytest.mark.mysql
def test_a_write_that_lost_its_connection_is_not_tried_again(behind_proxy, mysql_engine, caplog):
    client, proxy = behind_proxy
    proxy.cut()

    response = client.post(API, json=incident_payload())

    assert_unavailable(response)
    assert not any("trying once more" in record.getMessage() for record in caplog.records)
    with Session(mysql_engine) as session:
        assert count_incidents(session) == 0
    assert client.post(API, json=incident_payload()).status_code == 201  # a fresh connection
    with Session(mysql_engine) as session:
        assert count_incidents(session) == 1


@pytest.mark.mysql
def test_the_live_feed_reader_does_not_hang_on_a_frozen_database(behind_proxy):
    client, proxy = behind_proxy
    hub = client.app.state.live
    proxy.freeze()

    def read() -> Any:
        try:
            client.portal.call(hub.read_new)
        except Exception as exc:
            return exc
        return None

    error, _seconds = within(BOUND + SLACK, read, proxy.thaw)

    assert error is not None and is_unreachable(error), error
    proxy.thaw()
    client.portal.call(hub.read_new)


@pytest.mark.mysql
def test_an_export_that_streams_longer_than_the_statement_timeout_completes(mysql_url, mysql_engine, password_hash):
    """The statement timeout bounds the wait for one answer, not a whole result: a streamed export of many rows
    goes on for longer than it."""
    rows = 150_000
    app = create_app(
        Settings(database_url=mysql_url, app_env="test", cors_origins=[], db_statement_timeout_seconds=0.3)
    )
    headers = responder_headers(app, mysql_engine, password_hash)
    with Session(mysql_engine) as session, session.begin():
        session.execute(
            insert(Incident),
            [{"title": f"Incident {i}", "service": "s", "severity": Severity.SEV3} for i in range(rows)],
        )
    with TestClient(app, headers=headers) as client:
        started = time.monotonic()
        response = client.get("/api/incidents/export")
        seconds = time.monotonic() - started

    assert response.status_code == 200
    assert response.text.count("\r\n") == rows + 1
    assert seconds > 0.3, "too quick to show anything: export more rows"


# --- SQLite: another connection holds the write lock -------------------------------------------------------------


@pytest.fixture
def sqlite_locked(sqlite_url: str, password_hash: str) -> Iterator[tuple[TestClient, sqlite3.Connection]]:
    """A responder's client, and a connection of another process's kind that can hold SQLite's write lock."""
    app = stall_app(sqlite_url)
    engine = create_db_engine(sqlite_url)
    headers = responder_headers(app, engine, password_hash)
    other = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    try:
        with TestClient(app, headers=headers, raise_server_exceptions=False) as client:
            yield client, other
    finally:
        other.close()
        clear_tables(engine)
        engine.dispose()


def test_a_write_while_another_connection_holds_the_sqlite_lock_is_a_503_within_the_bound(sqlite_locked, sqlite_url):
    client, other = sqlite_locked
    other.execute("BEGIN EXCLUSIVE")

    response, seconds = within(BOUND + SLACK, lambda: client.post(API, json=incident_payload()), other.rollback)
    reads = on_the_same_loop(client, headers=client.headers).get(API)  # WAL: readers do not wait for the writer

    assert_unavailable(response)
    assert seconds >= 1.0
    assert reads.status_code == 200
    other.rollback()
    assert client.post(API, json=incident_payload()).status_code == 201
    engine = create_db_engine(sqlite_url)
    with Session(engine) as session:
        assert session.scalar(select(Incident.title)) == "Checkout latency above 2 s"
        assert count_incidents(session) == 1
    engine.dispose()
