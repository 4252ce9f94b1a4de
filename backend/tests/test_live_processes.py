"""The live feed across API processes: two real uvicorn processes on MariaDB share one Redis. A change made through
process A reaches a client of process B by Redis (the slow poll is set far longer than the test waits), and a
client that went away while the two processes committed 50 changes between them resumes with its cursor and gets
all 50, once each, in commit order."""

import asyncio
import json
import os
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

from app.database import create_db_engine, utcnow
from app.models import IncidentEvent, Role, User
from app.security import create_access_token, hash_password
from app.services import outbox
from tests.conftest import clear_tables, run_async, skip_unless_ci
from tests.e2e.conftest import free_port

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


def _start(mysql_url: str, redis_url: str, prefix: str) -> tuple[subprocess.Popen, str]:
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
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {process.stderr.read().decode()}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("uvicorn did not start in time")


@pytest.fixture
def processes(mysql_url: str, redis_url: str, tokens) -> Iterator[tuple[str, str]]:
    prefix = f"it-live-{uuid.uuid4().hex}"  # this run's own channel: parallel runs never hear each other
    started = []
    try:
        for _ in range(2):
            started.append(_start(mysql_url, redis_url, prefix))
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


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
