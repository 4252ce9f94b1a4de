"""The live feed's benchmark (docs/PERFORMANCE.md, "Live feed"): one API process, W watchers connected to
/api/live, and a writer. For each watcher count it measures

* delivery: a writer creates incidents one at a time (a pause between them); for each, the time from sending the
  POST to each watcher receiving its event (so it includes the write's own request and commit, reported apart as
  "write"), p50 and p99 over every (change, watcher) pair;
* write throughput: C concurrent writers creating incidents for D seconds, with the W watchers connected (and with
  none, the first row).

Usage, from the repository root (a SQLite file of its own by default; --database-url for MariaDB):
    .venv/bin/python bench/live.py --watchers 0,100,1000,5000 --changes 20 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"
sys.path.insert(0, str(BACKEND))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.database import create_db_engine, utcnow  # noqa: E402
from app.models import Role, User  # noqa: E402
from app.security import create_access_token, hash_password  # noqa: E402
from tests.conftest import migrate  # noqa: E402

SECRET_KEY = secrets.token_urlsafe(48)  # this run's own
BODY = {"title": "Bench incident", "service": "bench-service", "severity": "SEV3"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(url: str) -> dict[str, str]:
    """Migrate, and one account per role with a token."""
    migrate(url)
    engine = create_db_engine(url)
    tokens = {}
    with Session(engine) as session, session.begin():
        for role in Role:
            email = f"bench-{role.value}@example.com"
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                now = utcnow()
                user = User(
                    email=email,
                    display_name=f"Bench {role.value}",
                    role=role,
                    password_hash=hash_password("bench-password"),
                    is_active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(user)
                session.flush()
            tokens[role.value] = create_access_token(str(user.id), SECRET_KEY, timedelta(hours=2), user.token_version)
    engine.dispose()
    return tokens


def start_api(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "REDIS_URL": ""}
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=BACKEND, env=env)
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the API did not start")


class Watcher:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.received: dict[int, float] = {}  # incident id -> when its created event arrived

    async def run(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("type") == "event":
                self.received[message["incident"]["id"]] = time.perf_counter()


async def connect(base: str, token: str, count: int) -> list[Watcher]:
    watchers: list[Watcher] = []

    async def one() -> None:
        ws = await websockets.connect(base + "/api/live", max_queue=None, open_timeout=60)
        await ws.send(json.dumps({"type": "auth", "token": token, "after": None}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        watchers.append(Watcher(ws))

    for start in range(0, count, 200):  # in waves, so the listen backlog holds
        await asyncio.gather(*(one() for _ in range(start, min(count, start + 200))))
    return watchers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(base: str, http_base: str, tokens: dict[str, str], watchers_n: int, args) -> dict:
    watchers = await connect(base, tokens["viewer"], watchers_n)
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    headers = {"Authorization": f"Bearer {tokens['responder']}"}
    delays: list[float] = []
    writes: list[float] = []
    async with httpx.AsyncClient(base_url=http_base, headers=headers, timeout=60) as http:
        for _ in range(args.changes if watchers_n else 0):
            sent = time.perf_counter()
            response = await http.post("/api/incidents/", json=BODY)
            writes.append(time.perf_counter() - sent)
            incident_id = response.json()["id"]
            deadline = time.perf_counter() + 10
            while any(incident_id not in w.received for w in watchers) and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)
            delays += [w.received[incident_id] - sent for w in watchers if incident_id in w.received]
            missing = sum(incident_id not in w.received for w in watchers)
            if missing:
                print(f"  {missing} watchers did not get incident {incident_id} within 10 s", file=sys.stderr)
            await asyncio.sleep(args.pause)

        done = 0
        stop = time.perf_counter() + args.duration

        async def writer() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                response = await http.post("/api/incidents/", json=BODY)
                assert response.status_code == 201, response.text
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        rate = done / (time.perf_counter() - started)
    await asyncio.sleep(1)  # let the watchers drain before closing
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(w.ws.close() for w in watchers), return_exceptions=True)
    row = {"watchers": watchers_n, "writes_per_s": rate}
    if delays:
        row |= {
            "p50_ms": 1000 * statistics.median(delays),
            "p99_ms": 1000 * percentile(delays, 0.99),
            "write_p50_ms": 1000 * statistics.median(writes),
            "deliveries": len(delays),
        }
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", default="0,100,1000,5000", help="comma-separated watcher counts")
    parser.add_argument("--changes", type=int, default=20, help="changes timed per watcher count")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between timed changes")
    parser.add_argument("--writers", type=int, default=4, help="concurrent writers for the throughput")
    parser.add_argument("--duration", type=float, default=5, help="seconds of the throughput run")
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='live-bench-')}/bench.db"
    tokens = prepare(url)
    port = free_port()
    api = start_api(url, port)
    try:
        print("| watchers | commit to delivery p50 | p99 | the write alone p50 | deliveries | writes/s |")
        print("|---:|---:|---:|---:|---:|---:|")
        for count in (int(n) for n in args.watchers.split(",")):
            row = await measure(f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}", tokens, count, args)
            if "p50_ms" in row:
                print(
                    f"| {count:,} | {row['p50_ms']:.1f} ms | {row['p99_ms']:.1f} ms | {row['write_p50_ms']:.1f} ms"
                    f" | {row['deliveries']:,} | {row['writes_per_s']:.0f} |",
                    flush=True,
                )
            else:
                print(f"| {count:,} | - | - | - | - | {row['writes_per_s']:.0f} |", flush=True)
    finally:
        api.terminate()
        api.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
