"""The live feed's benchmark (docs/PERFORMANCE.md, "Live feed"): one API process, W watchers connected to
/api/live, and a writer. For each watcher count it measures

* delivery: a writer creates incidents one at a time (a pause between them); for each, the time from sending the
  POST to each watcher receiving its event (so it includes the write's own request and commit, reported apart as
  "the write alone"), p50 and p99 over every (change, watcher) pair. The watchers run in processes of their own
  (--watcher-processes), so the writer's timing is not queued behind thousands of sockets in one client;
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


def start_api(url: str, port: int, uvicorn_args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "REDIS_URL": ""}
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"]
    # As `make run` and the image serve it (no per-message compression, the HTTP protocol of app/http_server.py, no
    # proxy headers); --uvicorn-args come last and win.
    command += [
        "--ws-per-message-deflate",
        "false",
        "--http",
        "app.http_server:HttpToolsProtocol",
        "--no-proxy-headers",
        *uvicorn_args,
    ]
    process = subprocess.Popen(command, cwd=BACKEND, env=env)
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the API did not start")


async def watch(url: str, token: str, count: int) -> None:
    """A watcher process: `count` connections; says "ready" when all are in, records when each event arrives, and
    on "stop" (standard input) prints {incident id: [arrival times]} as JSON. Times are time.monotonic(), which is
    the same clock in every process of the machine."""
    arrivals: dict[int, list[float]] = {}
    sockets = []

    async def one() -> None:
        ws = await websockets.connect(url, max_queue=None, open_timeout=120, ping_interval=None)
        await ws.send(json.dumps({"type": "auth", "token": token, "after": None}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        sockets.append(ws)

    async def listen(ws) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "event":
                arrivals.setdefault(message["incident"]["id"], []).append(time.monotonic())

    for start in range(0, count, 200):  # in waves, so the listen backlog holds
        await asyncio.gather(*(one() for _ in range(start, min(count, start + 200))))
    tasks = [asyncio.create_task(listen(ws)) for ws in sockets]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    print(json.dumps(arrivals), flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_watchers(port: int, token: str, count: int, processes: int) -> list[subprocess.Popen]:
    children = []
    for n in range(processes):
        share = count // processes + (1 if n < count % processes else 0)
        if share:
            command = [sys.executable, __file__, "--watch", f"ws://127.0.0.1:{port}/api/live", token, str(share)]
            children.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for child in children:
        line = child.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"a watcher process failed to connect: {line!r}")
    return children


def stop_watchers(children: list[subprocess.Popen]) -> dict[int, list[float]]:
    arrivals: dict[int, list[float]] = {}
    for child in children:
        child.stdin.write("stop\n")
        child.stdin.flush()
    for child in children:
        for key, times in json.loads(child.stdout.readline()).items():
            arrivals.setdefault(int(key), []).extend(times)
        child.wait(timeout=60)
    return arrivals


async def measure(port: int, tokens: dict[str, str], watchers_n: int, args) -> dict:
    children = start_watchers(port, tokens["viewer"], watchers_n, args.watcher_processes)
    headers = {"Authorization": f"Bearer {tokens['responder']}"}
    sent: dict[int, float] = {}
    writes: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as http:
        for _ in range(args.changes if watchers_n else 0):
            started = time.monotonic()
            response = await http.post("/api/incidents/", json=BODY)
            writes.append(time.monotonic() - started)
            sent[response.json()["id"]] = started
            await asyncio.sleep(args.pause)
        await asyncio.sleep(2)  # the last deliveries

        done = failed = 0
        stop = time.monotonic() + args.duration

        async def writer() -> None:
            nonlocal done, failed
            while time.monotonic() < stop:
                response = await http.post("/api/incidents/", json=BODY)
                if response.status_code == 201:
                    done += 1
                else:  # reported, not hidden: e.g. SQLite's lock timeout under load
                    failed += 1

        began = time.monotonic()
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        rate = done / (time.monotonic() - began)
    arrivals = stop_watchers(children)
    row: dict = {"watchers": watchers_n, "writes_per_s": rate, "failed": failed}
    if sent:
        delays = [t - sent[i] for i in sent for t in arrivals.get(i, [])]
        row |= {
            "p50_ms": 1000 * statistics.median(delays),
            "p99_ms": 1000 * percentile(delays, 0.99),
            "write_p50_ms": 1000 * statistics.median(writes),
            "deliveries": len(delays),
            "expected": len(sent) * watchers_n,
        }
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", default="0,100,1000,5000", help="comma-separated watcher counts")
    parser.add_argument("--changes", type=int, default=20, help="changes timed per watcher count")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between timed changes")
    parser.add_argument("--writers", type=int, default=4, help="concurrent writers for the throughput")
    parser.add_argument("--duration", type=float, default=5, help="seconds of the throughput run")
    parser.add_argument("--watcher-processes", type=int, default=2, help="processes the watchers are spread over")
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    parser.add_argument("--uvicorn-args", default="", help='more uvicorn options, e.g. "--ws wsproto"')
    parser.add_argument("--watch", nargs=3, metavar=("URL", "TOKEN", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        url, token, count = args.watch
        await watch(url, token, int(count))
        return
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='live-bench-')}/bench.db"
    tokens = prepare(url)
    port = free_port()
    api = start_api(url, port, args.uvicorn_args.split())
    try:
        print("| watchers | write to delivery p50 | p99 | the write alone p50 | deliveries | writes/s | failed |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for count in (int(n) for n in args.watchers.split(",")):
            row = await measure(port, tokens, count, args)
            if "p50_ms" in row:
                print(
                    f"| {count:,} | {row['p50_ms']:.1f} ms | {row['p99_ms']:.1f} ms | {row['write_p50_ms']:.1f} ms"
                    f" | {row['deliveries']:,} of {row['expected']:,} | {row['writes_per_s']:.0f} | {row['failed']} |",
                    flush=True,
                )
            else:
                print(f"| {count:,} | - | - | - | - | {row['writes_per_s']:.0f} | {row['failed']} |", flush=True)
    finally:
        api.terminate()
        api.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
