"""The live feed across API processes: real uvicorn processes on MariaDB and Redis. A change made through
process A reaches a client of process B by Redis (the slow poll is set far longer than the test waits), and a
client that went away while the two processes committed 50 changes between them resumes with its cursor and gets
all 50, once each, in commit order. With a redis-server of the test's own stopped, writes answer at once and the
other process's client gets every change of the outage once Redis is back. A client that stops reading is dropped
(4408) while one that reads gets everything, and the server's memory does not hold what the slow one missed."""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
import websockets
from sqlalchemy import select
from sqlalchemy.orm import Session
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from app.database import create_db_engine, utcnow
from app.models import IncidentEvent, Role, User
from app.security import create_access_token, hash_password
from app.services import outbox
from tests.conftest import clear_tables, run_async, skip_unless_ci
from tests.e2e.conftest import free_port, start, stop

pytestmark = pytest.mark.mysql

BACKEND_DIR = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "live-processes-secret-key-0123456789abcdefghij"
CHANGES = 50
WAIT_SECONDS = 10


@pytest.fixture(scope="module")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        skip_unless_ci(f"Redis does not answer at {REDIS_URL}, so the cross-process test is skipped")
    return REDIS_URL


class PrivateRedis:
    """A redis-server of the test's own on a free port, without persistence, that the test stops and starts again
    on the same port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.directory = binary, directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.directory / 'redis.log').read_text()}")
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in time")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        skip_unless_ci("redis-server is not on PATH, so the Redis outage test is skipped")
    server = PrivateRedis(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tokens(mysql_url: str) -> Iterator[dict[Role, str]]:
    engine = create_db_engine(mysql_url)
    clear_tables(engine)
    digest, now, tokens = hash_password("x" * 12), utcnow(), {}
    with Session(engine) as session, session.begin():
        for role in Role:
            user = User(
                email=f"{role.value}@example.com",
                display_name=role.value.title(),
                role=role,
                password_hash=digest,
                is_active=True,
                created_at=now,
                updated_at=now,
            )
            session.add(user)
            session.flush()
            tokens[role] = create_access_token(str(user.id), SECRET_KEY, timedelta(hours=1))
    yield tokens
    clear_tables(engine)
    engine.dispose()


def _start(mysql_url: str, redis_url: str, prefix: str, log: Path, **settings: str) -> tuple[subprocess.Popen, str]:
    """An API process on a free port (`settings` adds or overrides its environment); its log goes to `log`."""
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": mysql_url,
        "SECRET_KEY": SECRET_KEY,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "LIVE_POLL_SECONDS": "60",  # far longer than the test waits: delivery across processes is Redis's
        "FIRST_ADMIN_EMAIL": "",
        **settings,
    }
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    return start(command, cwd=BACKEND_DIR, env=env, ready_url=f"{base}/api/health", log=log), base


@contextlib.contextmanager
def _running(
    mysql_url: str, redis_url: str, logs: Path, count: int = 2, **settings: str
) -> Iterator[list[tuple[subprocess.Popen, str]]]:
    """`count` API processes on one Redis channel of their own (parallel runs never hear each other), each with its
    base URL; their logs go to `logs` (api-0.log, api-1.log, ...)."""
    prefix = f"it-live-{uuid.uuid4().hex}"
    started = []
    try:
        for n in range(count):
            started.append(_start(mysql_url, redis_url, prefix, logs / f"api-{n}.log", **settings))
        yield started
    finally:
        for process, _ in started:
            stop(process)


@pytest.fixture
def processes(mysql_url: str, redis_url: str, tokens, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with _running(mysql_url, redis_url, tmp_path) as ((_, a), (_, b)):
        yield a, b


async def _next(ws) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT_SECONDS))
        if message != {"type": "ping"}:
            return message


async def _auth(base: str, token: str, after: str | None = None):
    ws = await websockets.connect(base.replace("http", "ws", 1) + "/api/live")
    await ws.send(json.dumps({"type": "auth", "token": token, "after": after}))
    ready = await _next(ws)
    assert ready["type"] == "ready", ready
    return ws, ready["cursor"]


def test_changes_cross_processes_and_a_resume_gets_all_50_once_in_order(processes, tokens, mysql_url):
    a, b = processes
    headers = {"Authorization": f"Bearer {tokens[Role.RESPONDER]}"}
    body = {"title": "Seen across processes", "service": "payments-api", "severity": "SEV2"}

    async def scenario() -> tuple[dict, list[dict], dict, str]:
        async with httpx.AsyncClient(headers=headers, timeout=WAIT_SECONDS) as http:
            ws, _ = await _auth(b, tokens[Role.VIEWER])
            created = (await http.post(f"{a}/api/incidents/", json=body)).json()
            crossed = await _next(ws)  # written through A, heard by B's client
            await ws.close()

            async def change(n: int) -> None:
                base = (a, b)[n % 2]
                response = await http.post(f"{base}/api/incidents/", json={**body, "title": f"Change {n}"})
                assert response.status_code == 201, response.text

            await asyncio.gather(*(change(n) for n in range(CHANGES)))

            ws, resumed_at = await _auth(a, tokens[Role.VIEWER], after=crossed["cursor"])
            replayed = [await _next(ws) for _ in range(CHANGES)]
            live_one = (await http.post(f"{b}/api/incidents/", json={**body, "title": "Live again"})).json()
            after = await _next(ws)
            await ws.close()
        return created, replayed, {"after": after, "live": live_one, "crossed": crossed}, resumed_at

    created, replayed, rest, resumed_at = run_async(scenario())

    assert rest["crossed"]["incident"] == created
    assert resumed_at == rest["crossed"]["cursor"]
    start = outbox.decode_cursor(resumed_at)
    assert [outbox.decode_cursor(m["cursor"]) for m in replayed] == list(range(start + 1, start + CHANGES + 1))
    titles = [m["incident"]["title"] for m in replayed]
    assert sorted(titles) == sorted(f"Change {n}" for n in range(CHANGES))  # each once
    engine = create_db_engine(mysql_url)
    try:
        with Session(engine) as session:
            stored = session.scalars(select(IncidentEvent.id).where(IncidentEvent.incident_id != created["id"])).all()
    finally:
        engine.dispose()
    assert sorted(m["event"]["id"] for m in replayed) == sorted(stored)[:CHANGES]
    assert rest["after"]["incident"] == rest["live"]
    assert outbox.decode_cursor(rest["after"]["cursor"]) == start + CHANGES + 1


OUTAGE_CHANGES = 5
QUICK_WRITE_SECONDS = 2.0  # a write never waits on Redis: far less than this even on a loaded machine
# The subscriber retries with a backoff of at most 5 s (app/live.py); the catch-up follows its reconnection.
CATCH_UP_SECONDS = 8.0
QUIET_SECONDS = 1.0


async def _nothing_within(ws, seconds: float) -> None:
    """Fail if the server sends anything but pings within `seconds`."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            return
        assert message == {"type": "ping"}, message


def test_while_redis_is_down_writes_answer_at_once_and_the_other_process_catches_up_once_it_is_back(
    private_redis, tokens, mysql_url, tmp_path
):
    """Redis stops while a client of process B watches: five writes through A each answer 201 at once, B hears
    nothing of them (its poll is a minute away), and once Redis is back on the same port B's client gets all
    five, once each, in commit order, within the subscriber's backoff; the doorbell then works again."""
    headers = {"Authorization": f"Bearer {tokens[Role.RESPONDER]}"}
    body = {"title": "Before the outage", "service": "payments-api", "severity": "SEV2"}

    async def scenario(a: str, b: str) -> dict:
        seen: dict = {"writes": [], "made": []}
        async with httpx.AsyncClient(headers=headers, timeout=WAIT_SECONDS) as http:
            ws, _ = await _auth(b, tokens[Role.VIEWER])
            assert (await http.post(f"{a}/api/incidents/", json=body)).status_code == 201
            seen["crossed"] = await _next(ws)  # Redis is up: B heard of A's commit

            await asyncio.to_thread(private_redis.stop)
            for n in range(OUTAGE_CHANGES):
                started = time.monotonic()
                response = await http.post(f"{a}/api/incidents/", json={**body, "title": f"During the outage {n}"})
                seen["writes"].append((response.status_code, time.monotonic() - started))
                seen["made"].append(response.json())
            await _nothing_within(ws, QUIET_SECONDS)

            await asyncio.to_thread(private_redis.start)
            restarted = time.monotonic()
            seen["caught"] = [await _next(ws) for _ in range(OUTAGE_CHANGES)]
            seen["catch_up_seconds"] = time.monotonic() - restarted

            seen["after"] = (await http.post(f"{a}/api/incidents/", json={**body, "title": "After"})).json()
            seen["heard"] = await _next(ws)
            await _nothing_within(ws, QUIET_SECONDS)  # nothing twice
            await ws.close()
        return seen

    with _running(mysql_url, private_redis.url, tmp_path) as ((_, a), (_, b)):
        seen = run_async(scenario(a, b))

    assert [status for status, _took in seen["writes"]] == [201] * OUTAGE_CHANGES
    assert max(took for _status, took in seen["writes"]) < QUICK_WRITE_SECONDS, seen["writes"]
    start = outbox.decode_cursor(seen["crossed"]["cursor"])
    caught = seen["caught"]
    assert [outbox.decode_cursor(m["cursor"]) for m in caught] == list(range(start + 1, start + OUTAGE_CHANGES + 1))
    assert [m["incident"] for m in caught] == seen["made"]
    assert seen["catch_up_seconds"] < CATCH_UP_SECONDS
    assert seen["heard"]["incident"] == seen["after"]
    assert outbox.decode_cursor(seen["heard"]["cursor"]) == start + OUTAGE_CHANGES + 1


SLOW_QUEUE = 3
FLOOD_CHANGES = 200
LARGE_DESCRIPTION = "\N{FIRE}" * 10_000  # the longest description the API takes: 40 kB of UTF-8
# The kernel's buffers (here 36 messages of 80 kB; at most 4 MB of send buffer by Linux's defaults, some 50) and
# the queue of 3 are full, and the client dropped, well before the reader has this many; the server waits up to
# 5 s (its close timeout) for the client to take the close frame, so the client reads again before that.
READ_AGAIN_AFTER = 70
DROP_SECONDS = 15.0


class StalledClient:
    """A WebSocket client on a plain socket with a small receive buffer, that authenticates and then reads nothing
    until `read_to_the_end` (a client library would keep reading into memory of its own)."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: no autotuning
        self.sock.settimeout(WAIT_SECONDS)
        self.sock.connect((host, int(port)))
        self.protocol = ClientProtocol(parse_uri(f"ws://{host}:{port}/api/live"), max_size=None)
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.state is State.CONNECTING:
            assert self._read_once(), "the server closed during the handshake"
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc
        self.protocol.send_text(json.dumps({"type": "auth", "token": token, "after": None}).encode())
        self._flush()
        self.texts: list[dict] = []
        while not self.texts:
            self._read_once()
        assert self.texts.pop(0)["type"] == "ready"

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def _read_once(self) -> bool:
        """Read what the socket has (waiting for it); False once the connection is gone."""
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return False
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                self.texts.append(json.loads(event.data))
        with contextlib.suppress(OSError):
            self._flush()
        return bool(data)

    def read_to_the_end(self) -> tuple[list[dict], int | None]:
        """Read again, until the connection ends: the messages it had left, and the close code the server sent
        (None when the connection was cut without one)."""
        self.sock.settimeout(DROP_SECONDS)
        while self._read_once():
            pass
        self.sock.close()
        return self.texts, (self.protocol.close_rcvd.code if self.protocol.close_rcvd else None)


def _rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def test_a_client_that_stops_reading_is_dropped_4408_while_a_reader_gets_everything_and_memory_stays_bounded(
    tokens, mysql_url, tmp_path
):
    """Two clients of a real uvicorn process authenticate and then stop reading: 200 changes of some 80 kB each
    (the description is in the incident and in the event's changes) fill their socket buffers, then their queues
    of 3, and the server drops them (4408) while a client that reads gets all 200 in order. One reads again soon
    after and gets the close frame; the other reads only at the end. The server does not keep what they missed:
    its RSS grows by far less than half of it (with no bound it grows by all of it, some 23 MB here)."""
    headers = {"Authorization": f"Bearer {tokens[Role.RESPONDER]}"}
    body = {"title": "Flood", "service": "payments-api", "severity": "SEV2", "description": LARGE_DESCRIPTION}

    async def scenario(base: str, pid: int) -> dict:
        seen: dict = {}
        slow = await asyncio.to_thread(StalledClient, base, tokens[Role.VIEWER])
        stalled = await asyncio.to_thread(StalledClient, base, tokens[Role.VIEWER])
        reader, _ = await _auth(base, tokens[Role.VIEWER])
        async with httpx.AsyncClient(headers=headers, timeout=WAIT_SECONDS) as http:
            warm_up = await http.post(f"{base}/api/incidents/", json={**body, "title": "Warm-up"})
            assert warm_up.status_code == 201, warm_up.text
            seen["warm_up"] = await _next(reader)
            seen["rss_before"] = _rss_kib(pid)

            async def read_all() -> list[dict]:
                read = []
                for _ in range(FLOOD_CHANGES):
                    read.append(await _next(reader))
                    if len(read) == READ_AGAIN_AFTER:
                        seen["slow"] = asyncio.create_task(asyncio.to_thread(slow.read_to_the_end))
                return read

            reading = asyncio.create_task(read_all())
            made = []
            for n in range(FLOOD_CHANGES):
                response = await http.post(f"{base}/api/incidents/", json={**body, "title": f"Flood {n}"})
                assert response.status_code == 201, response.text
                made.append(response.json())
            seen["read"], seen["made"] = await reading, made
        seen["rss_after"] = _rss_kib(pid)
        await reader.close()
        seen["slow_got"], seen["close"] = await seen["slow"]
        seen["stalled_got"], seen["stalled_close"] = await asyncio.to_thread(stalled.read_to_the_end)
        return seen

    with _running(mysql_url, "", tmp_path, count=1, LIVE_QUEUE_SIZE=str(SLOW_QUEUE)) as ((process, base),):
        seen = run_async(scenario(base, process.pid))

    read = seen["read"]
    assert [m["incident"] for m in read] == seen["made"]
    start = outbox.decode_cursor(seen["warm_up"]["cursor"])
    assert [outbox.decode_cursor(m["cursor"]) for m in read] == list(range(start + 1, start + FLOOD_CHANGES + 1))
    sent = [seen["warm_up"], *read]
    # Each slow client got what fitted in the buffers, in order, then the end; never the whole flood. The one that
    # read again soon after the drop got the close frame; the other, reading only at the end, found the
    # connection cut (the server waits for it to take the close frame no longer than its close timeout).
    for got, close, codes in (
        (seen["slow_got"], seen["close"], {4408}),
        (seen["stalled_got"], seen["stalled_close"], {4408, None}),
    ):
        assert close in codes
        assert 0 < len(got) < FLOOD_CHANGES
        assert [m["cursor"] for m in got] == [m["cursor"] for m in sent[: len(got)]]
    # Without the bound, the server would keep each message the stalled client missed (the same text the reader
    # got, held by its queue): some 13 MB more.
    missed = (FLOOD_CHANGES - len(seen["stalled_got"])) * len(json.dumps(read[-1], ensure_ascii=False).encode())
    grown = (seen["rss_after"] - seen["rss_before"]) * 1024
    assert grown < missed / 2, (seen["rss_before"], seen["rss_after"], missed)
