"""A stalled database under a writer loop (docs/PERFORMANCE.md, "A stalled database").

Starts a private MariaDB (bench/run.py's, with bench/mariadb.cnf, on a data directory of its own under bench/.data/),
the API against it (uvicorn), C clients that each POST incidents one after another for D seconds, and a prober that
asks /api/health twice a second. F seconds in, mariadbd is frozen with SIGSTOP for S seconds, then SIGCONT. It
reports the time from the freeze to the first 503, the requests that took longer than the bound + 1 s, the longest
request, and the 201s the clients saw against the rows present afterwards (and the rows of requests whose client
got no 201: written all the same, because the database committed what it had been sent before it froze).

Usage, from the repository root:
    .venv/bin/python bench/stall.py [--clients 8] [--duration 30] [--freeze-at 5] [--freeze 20]
        [--backend PATH]  # the backend/ directory of the API under test: another checkout, for a before figure
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import DATA, PY, MariaDB, Processes, app_env, free_port, request, say, wait_for

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "incident_tracker_stall"
EMAIL = "stall-responder@example.com"
PASSWORD = "stall-responder-password"  # noqa: S105 - a throwaway account on a throwaway server
# The API's bounded waits (README "Settings"), set explicitly so that the bound below is the one in force.
TIMEOUTS = {"DB_CONNECT_TIMEOUT_SECONDS": 3.0, "DB_STATEMENT_TIMEOUT_SECONDS": 5.0, "DB_POOL_TIMEOUT_SECONDS": 3.0}
BOUND = TIMEOUTS["DB_POOL_TIMEOUT_SECONDS"] + max(
    TIMEOUTS["DB_CONNECT_TIMEOUT_SECONDS"], TIMEOUTS["DB_STATEMENT_TIMEOUT_SECONDS"]
)


DEFAULTS: dict[str, object] = {}


@dataclass
class Call:
    client: int
    title: str
    started: float
    ended: float
    status: int  # 0: no answer within the client's timeout, or the connection failed

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def post(url: str, token: str, title: str, timeout: float, key: bool) -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    body = json.dumps({"title": title, "service": "stall-bench", "severity": "SEV3"})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = title  # one key per create: its title is unique
    try:
        connection.request("POST", "/api/incidents/", body, headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def writer(client: int, api: str, token: str, until: float, args: argparse.Namespace, calls: list[Call], lock) -> None:
    sequence = 0
    while time.monotonic() < until:
        sequence += 1
        title = f"stall {client}-{sequence}"
        started = time.monotonic()
        status = post(api, token, title, args.client_timeout, args.idempotency_key)
        with lock:
            calls.append(Call(client, title, started, time.monotonic(), status))


def prober(api: str, until: float, timeout: float, probes: list[Call], lock) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            status, _body = request("GET", api + "/api/health", timeout=timeout)
        except (OSError, http.client.HTTPException):
            status = 0
        with lock:
            probes.append(Call(-1, "", started, time.monotonic(), status))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))


def stored_titles(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        titles = connection.exec_driver_sql("SELECT title FROM incidents WHERE service = 'stall-bench'").scalars()
        titles = list(titles)
    engine.dispose()
    return titles


def prepare_database(mariadb: MariaDB, backend: Path) -> tuple[str, dict[str, str]]:
    datadir = DATA / "stall-mariadb"
    say(f"new MariaDB data directory in {datadir.relative_to(ROOT)}")
    mariadb.install(datadir)
    mariadb.start(datadir)
    engine = sqlalchemy.create_engine(mariadb.url(""))
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    engine.dispose()
    url = mariadb.url(DATABASE)
    env = app_env(url, PYTHONPATH=str(backend), **{key: str(value) for key, value in TIMEOUTS.items()})
    for command, stdin in (
        (["migrate"], None),
        (
            ["create-user", "--email", EMAIL, "--name", "Stall Responder", "--role", "responder", "--password-stdin"],
            PASSWORD + "\n",
        ),
    ):
        subprocess.run(
            [PY, "-m", "app.cli", *command],
            cwd=backend,
            env=env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return url, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds the clients write")
    parser.add_argument("--freeze-at", type=float, default=5.0, help="seconds into the run")
    parser.add_argument("--freeze", type=float, default=20.0, help="seconds mariadbd stays stopped")
    parser.add_argument("--client-timeout", type=float, default=60.0, help="a client gives up after this long")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--port", type=int, default=13307, help="port of the private MariaDB")
    parser.add_argument("--backend", type=Path, default=ROOT / "backend", help="backend/ of the API under test")
    parser.add_argument("--idempotency-key", action="store_true", help="each create carries a key of its own")
    parser.add_argument("--resend", action="store_true", help="after the run, send each create without a 201 again")
    DEFAULTS.update(vars(parser.parse_args([])))
    args = parser.parse_args()
    backend = args.backend.resolve()

    processes = Processes()
    mariadb = MariaDB(processes, args.port)
    calls: list[Call] = []
    probes: list[Call] = []
    lock = threading.Lock()
    frozen_at = thawed_at = 0.0
    resent: list[int] = []
    titles_after: list[str] = []
    try:
        url, env = prepare_database(mariadb, backend)
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        command = [PY, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
        server = processes.start("stall-api", command, env={**env, "APP_ENV": "test"}, cwd=backend)
        wait_for(api + "/api/health", server, "stall-api")
        form = urllib.parse.urlencode({"username": EMAIL, "password": PASSWORD}).encode()
        status, body = request(
            "POST", api + "/api/auth/token", body=form, content_type="application/x-www-form-urlencoded"
        )
        if status != 200:
            raise SystemExit(f"sign-in failed: {status} {body[:200]!r}")
        token = json.loads(body)["access_token"]

        started = time.monotonic()
        until = started + args.duration
        threads = [
            threading.Thread(target=writer, args=(i, api, token, until, args, calls, lock)) for i in range(args.clients)
        ]
        threads.append(threading.Thread(target=prober, args=(api, until, args.client_timeout, probes, lock)))
        say(
            f"{args.clients} writers for {args.duration:g} s; mariadbd frozen from {args.freeze_at:g} s for "
            f"{args.freeze:g} s"
        )
        for thread in threads:
            thread.start()
        time.sleep(args.freeze_at)
        assert mariadb.process is not None
        os.kill(mariadb.process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        say("mariadbd stopped (SIGSTOP)")
        time.sleep(args.freeze)
        os.kill(mariadb.process.pid, signal.SIGCONT)
        thawed_at = time.monotonic()
        say("mariadbd continued (SIGCONT)")
        for thread in threads:
            thread.join()
        ended = time.monotonic()
        time.sleep(2)  # let the statements a client gave up on reach their end
        titles = stored_titles(url)
        if args.resend:  # each create that got no 201 is sent once more, as a client that retries would
            for call in [call for call in calls if call.status != 201]:
                resent.append(post(api, token, call.title, args.client_timeout, args.idempotency_key))
            titles_after = stored_titles(url)
    finally:
        if mariadb.process is not None and mariadb.process.poll() is None:
            os.kill(mariadb.process.pid, signal.SIGCONT)
        processes.stop_all()
        mariadb.stop()

    detail = [
        {
            "client": c.client,
            "title": c.title,
            "started": round(c.started - started, 3),
            "ended": round(c.ended - started, 3),
            "status": c.status,
            "stored": c.title in set(titles),
        }
        for c in calls + probes
    ]
    (DATA / "stall-calls.json").write_text(json.dumps(detail, indent=0))  # every request, for a closer look
    print(report(args, backend, calls, probes, titles, (resent, titles_after), (started, frozen_at, thawed_at, ended)))
    return 0


def report(args, backend, calls, probes, titles, resends, times) -> str:
    started, frozen_at, thawed_at, ended = times
    resent, titles_after = resends
    stored = set(titles)
    options = [
        f"--{name.replace('_', '-')} {value:g}"
        if isinstance(value, float | int) and not isinstance(value, bool)
        else f"--{name.replace('_', '-')}"
        for name, value in vars(args).items()
        if name not in ("backend", "clients", "duration", "freeze_at", "freeze") and value and value != DEFAULTS[name]
    ]

    def first(items: list[Call], status: int, after: float) -> str:
        ends = [call.ended for call in items if call.status == status and call.ended >= after]
        return f"{min(ends) - after:.1f} s" if ends else "never"

    by_status: dict[int, int] = {}
    for call in calls:
        by_status[call.status] = by_status.get(call.status, 0) + 1
    statuses = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(by_status.items()))
    created = {call.title for call in calls if call.status == 201}
    refused = {call.title for call in calls if call.status != 201}
    hung = [call for call in calls + probes if call.seconds > BOUND + 1]
    during = [call for call in calls if call.started < thawed_at and call.ended > frozen_at]
    lines = [
        "```",
        f"$ .venv/bin/python bench/stall.py --clients {args.clients} --duration {args.duration:g} "
        f"--freeze-at {args.freeze_at:g} --freeze {args.freeze:g}"
        + "".join(f" {option}" for option in options)
        + ("" if backend == (ROOT / "backend").resolve() else " --backend <the other checkout>/backend"),
        f"bound (DB_POOL_TIMEOUT_SECONDS + max(DB_CONNECT_TIMEOUT_SECONDS, DB_STATEMENT_TIMEOUT_SECONDS)): {BOUND:g} s",
        f"run {ended - started:.1f} s, mariadbd stopped from {frozen_at - started:.1f} s "
        f"to {thawed_at - started:.1f} s",
        f"POSTs: {len(calls)} ({statuses})",
        f"health probes: {len(probes)} ({sum(p.status == 200 for p in probes)} x 200, "
        f"{sum(p.status == 503 for p in probes)} x 503, {sum(p.status not in (200, 503) for p in probes)} other)",
        f"freeze -> first 503 of a POST: {first(calls, 503, frozen_at)}; of health: {first(probes, 503, frozen_at)}",
        f"thaw -> first 201: {first(calls, 201, thawed_at)}; first health 200: {first(probes, 200, thawed_at)}",
        f"requests longer than the bound + 1 s ({BOUND + 1:g} s): {len(hung)}",
        f"longest POST: {max(call.seconds for call in calls):.1f} s; longest health: "
        f"{max(probe.seconds for probe in probes):.1f} s",
        f"POSTs that met the freeze: {len(during)}, median {statistics.median(c.seconds for c in during):.1f} s"
        if during
        else "POSTs that met the freeze: 0",
        f"201s seen by the clients: {len(created)}; rows present: {len(stored)}; "
        f"201s without a row: {len(created - stored)}",
        f"rows whose client got no 201 (written though the client was told it failed): {len(stored & refused)}",
        *(
            [
                f"sent again after the run ({'same' if args.idempotency_key else 'no'} Idempotency-Key): "
                f"{len(resent)}, answered {', '.join(f'{s}: {resent.count(s)}' for s in sorted(set(resent)))}; "
                f"rows then: {len(titles_after)}, titles stored twice: {len(titles_after) - len(set(titles_after))}"
            ]
            if args.resend
            else []
        ),
        "```",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
