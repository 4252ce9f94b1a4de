"""Oversized requests (docs/PERFORMANCE.md, "Oversized requests"): the API's memory and the time `/api/health` takes
while anonymous clients send it large bodies.

It starts one API process as `make run` serves it (uvicorn, the same options as app/cli.py) on a SQLite file of its
own, then has N anonymous clients send `POST /api/incidents/` of M MB each, one after the other for S seconds (a
JSON array, made as it is sent: the script never holds a body), while curl asks `/api/health` every 100 ms. It
prints the POSTs' statuses and times, the health timings (median, max of curl's time_total) and the API's resident
memory (VmRSS from /proc/PID/status, what `ps` reads, sampled every 50 ms) before, at most during, and 2 s after the
last answer.

Usage, from the repository root:
    .venv/bin/python bench/big_bodies.py --parallel 20 --megabytes 50 --seconds 10 [--chunked]
Against another checkout's backend (e.g. the code before the limits, which had no app/http_server.py):
    .venv/bin/python bench/big_bodies.py --backend ../other/backend --http auto
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HTTP_PROTOCOL = "app.http_server:HttpToolsProtocol"  # as app/cli.py serves
PIECE = b"1," * (32 * 1024)  # 64 KiB of the array
CURL = shutil.which("curl") or "curl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (its peak) of the process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def body(megabytes: int, chunked: bool) -> Iterator[bytes]:
    pieces = megabytes * 1024 * 1024 // len(PIECE)
    for index in range(pieces):
        piece = (b"[" if index == 0 else b"") + PIECE + (b"1]" if index == pieces - 1 else b"")
        yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def body_length(megabytes: int) -> int:
    return megabytes * 1024 * 1024 + 3  # the pieces, "[" and "1]"


def keep_posting(port: int, megabytes: int, chunked: bool, until: list[float], results: list, start: threading.Event):
    """One anonymous client: POSTs one after the other until the attack's time is up (at least one)."""
    start.wait()
    while True:
        post(port, megabytes, chunked, results)
        if time.monotonic() >= until[0]:
            return


def post(port: int, megabytes: int, chunked: bool, results: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    began = time.monotonic()
    try:
        connection.putrequest("POST", "/api/incidents/")
        connection.putheader("Content-Type", "application/json")
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        else:
            connection.putheader("Content-Length", str(body_length(megabytes)))
        connection.endheaders()
        try:
            for piece in body(megabytes, chunked):
                connection.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the end of the body: its answer may still be there to read
        response = connection.getresponse()
        response.read()
        results.append((response.status, time.monotonic() - began))
    except (OSError, http.client.HTTPException) as exc:
        results.append((type(exc).__name__, time.monotonic() - began))
    finally:
        connection.close()


def watch_memory(pid: int, samples: list[int], done: threading.Event) -> None:
    while not done.is_set():
        samples.append(memory(pid)["VmRSS"])
        time.sleep(0.05)


def watch_health(port: int, timings: list[float], done: threading.Event) -> None:
    """curl, a process of its own (a thread of this one would wait for the senders' turn at the GIL)."""
    url = f"http://127.0.0.1:{port}/api/health"
    while not done.is_set():
        out = subprocess.run(
            [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "60", url],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if out and out[0] == "200":
            timings.append(float(out[1]))
        else:
            timings.append(float("inf"))  # no answer within a minute, or not a 200
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--chunked", action="store_true", help="send without Content-Length")
    parser.add_argument("--seconds", type=float, default=10, help="each client keeps sending for this long")
    parser.add_argument("--backend", type=Path, default=ROOT / "backend", help="the backend directory to serve")
    parser.add_argument("--http", default=HTTP_PROTOCOL, help="uvicorn's --http (auto for code without ours)")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="big-bodies-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'api.db'}",
        "APP_ENV": "test",
        "FIRST_ADMIN_EMAIL": "",
        "PYTHONDONTWRITEBYTECODE": "1",  # leave the served checkout as it is
    }
    subprocess.run([PY, "-m", "app.cli", "migrate"], cwd=args.backend, env=env, check=True, capture_output=True)
    port = free_port()
    command = [PY, "-m", "uvicorn", "app.main:app", "--port", str(port), "--ws-per-message-deflate", "false"]
    command += ["--http", args.http, "--no-access-log"]
    with (directory / "api.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=args.backend, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"the API did not start: {(directory / 'api.log').read_text()}")
        # One small request of each kind first, so that "before" includes what the first requests load.
        httpx.post(f"http://127.0.0.1:{port}/api/incidents/", json={"title": "warm-up"})
        time.sleep(1)
        before = memory(server.pid)

        results: list = []
        health: list[float] = []
        rss: list[int] = []
        start, done = threading.Event(), threading.Event()
        until = [0.0]
        posts = [
            threading.Thread(target=keep_posting, args=(port, args.megabytes, args.chunked, until, results, start))
            for _ in range(args.parallel)
        ]
        watchers = [
            threading.Thread(target=watch_health, args=(port, health, done)),
            threading.Thread(target=watch_memory, args=(server.pid, rss, done)),
        ]
        for thread in posts:
            thread.start()
        began = time.monotonic()
        until[0] = began + args.seconds
        start.set()
        for thread in watchers:
            thread.start()
        for thread in posts:
            thread.join()
        wall = time.monotonic() - began
        done.set()
        for thread in watchers:
            thread.join()
        time.sleep(2)
        after = memory(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)

    framing = "chunked" if args.chunked else "Content-Length"
    print(
        f"{args.parallel} anonymous clients, each sending POST /api/incidents/ of {args.megabytes} MB ({framing}) one "
        f"after the other for {args.seconds:.0f} s; --http {args.http}"
    )
    statuses: dict[object, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    times = sorted(seconds for _, seconds in results)
    print(
        f"  {len(results)} POSTs answered in {wall:.1f} s: {statuses}; "
        f"time to answer median {statistics.median(times):.2f} s, max {times[-1]:.2f} s"
    )
    print(
        f"  /api/health meanwhile (curl, every 100 ms): {len(health)} requests, "
        f"median {statistics.median(health) * 1000:.0f} ms, max {max(health) * 1000:.0f} ms"
    )
    print(
        f"  API memory (VmRSS): {before['VmRSS']} MiB before, at most {max(rss)} MiB during, {after['VmRSS']} MiB after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
