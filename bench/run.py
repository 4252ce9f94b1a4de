"""`make bench`: seed N incidents, start the API, the framework ceiling and the naive app, drive each scenario with
wrk on loopback, and write a Markdown table to stdout and to bench/results/. See docs/PERFORMANCE.md.

Settings (environment, or make variables of the same name):
    BENCH_DB           mariadb (a private server started here, default) or sqlite
    BENCH_N            incidents to seed (default 100000)
    BENCH_WORKERS      uvicorn workers of each app (default 2)
    BENCH_CONNECTIONS  wrk connections (default 32)
    BENCH_THREADS      wrk threads (default 2)
    BENCH_DURATION     per scenario, whole seconds: 10s, 1m (default 10s)
    BENCH_ONLY         comma-separated words; only the scenarios whose name contains one of them
    BENCH_PAGE         0 skips the page timing in Chromium (default 1)
    BENCH_RESEED       1 seeds again even when a seeded data set of the same N and schema exists
    BENCH_MARIADB_PORT port of the private MariaDB (default 13306)

Run with the project's venv Python from the repository root: `.venv/bin/python bench/run.py`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import sqlalchemy
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BACKEND = ROOT / "backend"
DATA = BENCH / ".data"
RESULTS = BENCH / "results"
LOGS = DATA / "logs"
PY = sys.executable
# The HTTP protocol `make run` serves with (app/cli.py): uvicorn's default with a ceiling on the request head.
HTTP_PROTOCOL = "app.http_server:HttpToolsProtocol"

DATABASE_NAME = "incident_tracker_bench"
ADMIN_EMAIL = "bench-admin@example.com"
# Titles with this word are added before measuring, so the "rare" search has a handful of matches.
RARE_WORD = "wombat"
RARE_COUNT = 5
COMMON_WORD = "latency"
ABSENT_WORD = "zqxjv"
DEEP_PAGE = 5000
SETTLE_MAX_S = 120  # how long to wait for the servers to finish the requests a scenario left behind
UNAVAILABLE = (404, 405, 422)


# ---------------------------------------------------------------------------
# Settings


def _duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(s|m)?\s*", text)
    if not match or int(match[1]) < 1:
        raise SystemExit(f"BENCH_DURATION: expected whole seconds such as 10s or 1m, not {text!r}")
    return int(match[1]) * (60 if match[2] == "m" else 1)


def _int(name: str, default: int, low: int = 1) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or int(value) < low:
        raise SystemExit(f"{name}: expected a whole number of at least {low}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    db: str
    n: int
    workers: int
    connections: int
    threads: int
    duration: int
    only: tuple[str, ...]
    page: bool
    reseed: bool
    mariadb_port: int

    @classmethod
    def from_env(cls) -> Settings:
        db = (os.environ.get("BENCH_DB") or "mariadb").lower()
        if db not in ("mariadb", "sqlite"):
            raise SystemExit(f"BENCH_DB: mariadb or sqlite, not {db!r}")
        connections = _int("BENCH_CONNECTIONS", 32)
        return cls(
            db=db,
            n=_int("BENCH_N", 100_000),
            workers=_int("BENCH_WORKERS", 2),
            connections=connections,
            threads=min(_int("BENCH_THREADS", 2), connections),
            duration=_duration(os.environ.get("BENCH_DURATION") or "10s"),
            only=tuple(word.strip() for word in (os.environ.get("BENCH_ONLY") or "").split(",") if word.strip()),
            page=(os.environ.get("BENCH_PAGE") or "1") != "0",
            reseed=(os.environ.get("BENCH_RESEED") or "0") == "1",
            mariadb_port=_int("BENCH_MARIADB_PORT", 13306),
        )

    def command(self) -> str:
        return (
            f"make bench BENCH_DB={self.db} BENCH_N={self.n} BENCH_WORKERS={self.workers} "
            f"BENCH_CONNECTIONS={self.connections} BENCH_DURATION={self.duration}s"
            + (f" BENCH_ONLY={','.join(self.only)}" if self.only else "")
            + ("" if self.page else " BENCH_PAGE=0")
        )


def say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Processes: every one we start gets its own process group, and all are stopped at exit


class Processes:
    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 15) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Workers left behind by a leader that died first share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        for _name, process in reversed(self.running):
            self.stop(process)

    def groups(self) -> list[int]:
        return [process.pid for _name, process in self.running if process.poll() is None]


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------
# HTTP on loopback (standard library only)


def request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 30,
) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for(url: str, process: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}; see {LOGS / (name + '.log')}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request("GET", url, timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not answer {url} within {timeout:.0f} s; see {LOGS / (name + '.log')}")


# ---------------------------------------------------------------------------
# CPU use of our own processes, to let a scenario's leftover requests drain before the next one


def _cpu_ticks(groups: list[int], extra: list[int]) -> int:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            pid = int(stat.parent.name)
            if int(fields[2]) in groups or pid in extra:  # fields[2]: process group
                total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def settle(groups: list[int], extra: list[int], cancel=None) -> float:
    """Wait until our servers use under 10% of one core over half a second; return the seconds waited. `cancel`
    is called before each look (it cancels the database queries of abandoned requests)."""
    started = time.monotonic()
    hertz = os.sysconf("SC_CLK_TCK")
    while time.monotonic() - started < SETTLE_MAX_S:
        if cancel is not None:
            cancel()
        before = _cpu_ticks(groups, extra)
        time.sleep(0.5)
        if (_cpu_ticks(groups, extra) - before) / hertz < 0.05:
            break
    return time.monotonic() - started


def worker_pids(leader: subprocess.Popen) -> list[int]:
    """The uvicorn processes that serve requests: the spawned workers, or the leader itself with one worker."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[1]) == leader.pid:
                cmdline = (stat.parent / "cmdline").read_bytes()
                if b"spawn_main" in cmdline:
                    children.append(int(stat.parent.name))
    return children or [leader.pid]


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------
# Data sets: seeded once into a "pristine" copy, which each run copies, so every run starts from the same rows


def schema_revision() -> str:
    """The migrations' head revision(s): a seeded data set is reused only at the same schema."""
    if str(BACKEND) not in sys.path:
        sys.path.insert(0, str(BACKEND))  # the migration scripts import the app's modules
    config = AlembicConfig(str(BACKEND / "alembic.ini"))
    config.set_main_option("script_location", str(BACKEND / "migrations"))
    return "+".join(sorted(ScriptDirectory.from_config(config).get_heads()))


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BENCH_")}
    env.update(
        DATABASE_URL=database_url,
        PYTHONPATH=str(BACKEND),
        FIRST_ADMIN_EMAIL="",
        SQL_ECHO="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def run_checked(command: list[str], *, env: dict[str, str], what: str, stdin: str | None = None, timeout: float = 3600):
    result = subprocess.run(
        command, cwd=BACKEND, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def create_account(env: dict[str, str], email: str, name: str, role: str) -> str:
    password = secrets.token_urlsafe(24)
    command = [PY, "-m", "app.cli", "create-user", "--email", email, "--name", name, "--role", role]
    run_checked([*command, "--password-stdin"], env=env, what=f"create-user {email}", stdin=password + "\n")
    return password


def seed_dataset(database_url: str, n: int) -> dict:
    """Migrate, add two responders (the seeded history's people) and seed n incidents, timed by /usr/bin/time -v."""
    env = app_env(database_url)
    say("migrating")
    run_checked([PY, "-m", "app.cli", "migrate"], env=env, what="migrate")
    for i in (1, 2):
        create_account(env, f"bench-responder{i}@example.com", f"Bench Responder {i}", "responder")
    command = [PY, "seed.py", "--count", str(n), "--force", "--seed", "1"]
    timer = shutil.which("time", path="/usr/bin")
    say(f"seeding {n:,} incidents: {' '.join(command)}")
    started = time.monotonic()
    result = run_checked(([timer, "-v"] if timer else []) + command, env=env, what="seed")
    seconds = time.monotonic() - started
    stats = {"command": f"/usr/bin/time -v python {' '.join(command[1:])}", "wall_s": round(seconds, 1)}
    if wall := re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr):
        stats["wall_s"] = round(int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3]), 1)
    if rss := re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr):
        stats["max_rss_mib"] = round(int(rss[1]) / 1024, 1)
    stats["output"] = result.stdout.strip().splitlines()[-1:] or [""]
    stats["seeded_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    say(f"seeded in {stats['wall_s']} s, max RSS {stats.get('max_rss_mib', '?')} MiB")
    return stats


def read_marker(path: Path, key: dict) -> dict | None:
    with contextlib.suppress(OSError, ValueError):
        marker = json.loads(path.read_text())
        if marker.get("key") == key:
            return marker
    return None


class MariaDB:
    """The private server: its own data directory, config file (bench/mariadb.cnf), port and socket."""

    def __init__(self, processes: Processes, port: int) -> None:
        self.processes = processes
        self.port = port
        self.process: subprocess.Popen | None = None
        self.datadir: Path | None = None
        for tool in ("mariadbd", "mariadb-install-db", "mariadb-admin"):
            if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin"):
                raise SystemExit(f"{tool} not found: install the MariaDB server (apt-get install mariadb-server)")

    @staticmethod
    def tool(name: str) -> str:
        return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin") or name

    def user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def socket(self, datadir: Path) -> Path:
        return datadir / "mariadb.sock"

    def install(self, datadir: Path) -> None:
        shutil.rmtree(datadir, ignore_errors=True)
        datadir.mkdir(parents=True)
        command = [self.tool("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}", "--skip-test-db"]
        command += ["--auth-root-authentication-method=normal", *self.user_args()]
        subprocess.run(command, check=True, capture_output=True, timeout=300)

    def start(self, datadir: Path) -> None:
        if port_in_use(self.port):
            raise SystemExit(f"port {self.port} is taken (another make bench?); set BENCH_MARIADB_PORT")
        command = [
            self.tool("mariadbd"),
            f"--defaults-file={BENCH / 'mariadb.cnf'}",
            f"--datadir={datadir}",
            f"--socket={self.socket(datadir)}",
            f"--pid-file={datadir / 'mariadbd.pid'}",
            f"--log-error={datadir / 'error.log'}",
            f"--port={self.port}",
            *self.user_args(),
        ]
        self.datadir = datadir
        self.process = self.processes.start("mariadb", command, env=dict(os.environ), cwd=datadir)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"mariadbd exited with {self.process.returncode}; see {datadir / 'error.log'}")
            with contextlib.suppress(sqlalchemy.exc.OperationalError):
                with sqlalchemy.create_engine(self.url("")).connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
                return
            time.sleep(0.3)
        raise SystemExit(f"mariadbd did not start within 120 s; see {datadir / 'error.log'}")

    def stop(self) -> None:
        """A clean shutdown (so a seeded data directory can be copied), else a kill."""
        if self.process is None or self.datadir is None:
            return
        if self.process.poll() is None:
            subprocess.run(
                [self.tool("mariadb-admin"), f"--socket={self.socket(self.datadir)}", "-uroot", "shutdown"],
                capture_output=True,
                timeout=120,
                check=False,
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=120)
        self.processes.stop(self.process)
        self.process = None

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def prepare(self, settings: Settings, key: dict) -> dict:
        """Start the server on a fresh copy of the seeded data directory (seeding it first when needed)."""
        pristine, run_dir = DATA / "mariadb-pristine", DATA / "mariadb-run"
        marker_path = pristine / "bench-dataset.json"
        marker = None if settings.reseed else read_marker(marker_path, key)
        if marker is None:
            say(f"new MariaDB data directory in {pristine.relative_to(ROOT)}")
            self.install(pristine)
            self.start(pristine)
            engine = sqlalchemy.create_engine(self.url(""))
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    f"CREATE DATABASE {DATABASE_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            engine.dispose()
            stats = seed_dataset(self.url(), settings.n)
            self.stop()
            marker = {"key": key, "seed": stats}
            marker_path.write_text(json.dumps(marker, indent=2))
        else:
            say(f"reusing the data set seeded at {marker['seed']['seeded_at']} ({pristine.relative_to(ROOT)})")
        shutil.rmtree(run_dir, ignore_errors=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(pristine), str(run_dir)], check=True)  # noqa: S607
        self.start(run_dir)
        return marker


def prepare_sqlite(settings: Settings, key: dict) -> tuple[str, dict]:
    pristine, run_file = DATA / "sqlite-pristine.db", DATA / "sqlite-run.db"
    marker_path = DATA / "sqlite-pristine.json"
    marker = None if settings.reseed else read_marker(marker_path, key)
    if marker is None or not pristine.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{pristine}{suffix}").unlink(missing_ok=True)
        stats = seed_dataset(f"sqlite:///{pristine}", settings.n)
        with contextlib.closing(sqlite3.connect(pristine)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        marker = {"key": key, "seed": stats}
        marker_path.write_text(json.dumps(marker, indent=2))
    else:
        say(f"reusing the data set seeded at {marker['seed']['seeded_at']} ({pristine.relative_to(ROOT)})")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run_file}{suffix}").unlink(missing_ok=True)
        if Path(f"{pristine}{suffix}").exists():
            shutil.copyfile(f"{pristine}{suffix}", f"{run_file}{suffix}")
    return f"sqlite:///{run_file}", marker


# ---------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Scenario:
    key: str  # the same key on the API and the naive app, which is how ratios pair rows
    path: str
    targets: tuple[str, ...] = ("api", "naive")
    mode: str = "get"  # see bench/wrk.lua
    ids: bool = False  # whether wrk appends a random incident id to the path


# The async ceiling is measured three times (start, middle, end of the reads); the ratios use the median, since
# the load of a shared machine drifts during a run.
CEILING_AGAIN = ("ceiling (again, mid-run)", "ceiling (again, after the reads)")


def scenarios() -> list[Scenario]:
    items = [
        Scenario("ceiling", "/bench/ceiling", ("ceiling",)),
        Scenario("ceiling-sync", "/bench/ceiling-sync", ("ceiling",)),
        Scenario("ceiling-raw", "/bench/ceiling-raw", ("ceiling",)),
        Scenario("list", "/api/incidents/"),
        Scenario("filter severity=SEV1", "/api/incidents/?severity=SEV1"),
        Scenario("filter status=OPEN", "/api/incidents/?status=OPEN"),
        Scenario("filter severity=SEV2&status=MITIGATED", "/api/incidents/?severity=SEV2&status=MITIGATED"),
    ]
    for column in ("id", "title", "service", "severity", "status", "created_at", "updated_at"):
        for order in ("asc", "desc"):
            items.append(Scenario(f"sort {column} {order}", f"/api/incidents/?sort_by={column}&sort_order={order}"))
    items.append(Scenario(CEILING_AGAIN[0], "/bench/ceiling", ("ceiling",)))
    items += [
        Scenario(f"search common ({COMMON_WORD})", f"/api/incidents/?search={COMMON_WORD}"),
        Scenario(f"search rare ({RARE_WORD})", f"/api/incidents/?search={RARE_WORD}"),
        Scenario(f"search absent ({ABSENT_WORD})", f"/api/incidents/?search={ABSENT_WORD}"),
        Scenario(f"page={DEEP_PAGE}", f"/api/incidents/?page={DEEP_PAGE}"),
        Scenario("deep cursor", "", ("api",)),  # the path is found by following next_cursor
        Scenario("get one", "/api/incidents/", ids=True),
        Scenario(CEILING_AGAIN[1], "/bench/ceiling", ("ceiling",)),
    ]
    return items


WRITE_SCENARIOS = [
    Scenario("patch", "/api/incidents/", ("api",), mode="patch", ids=True),
    Scenario("create", "/api/incidents/", ("api",), mode="create"),
]


def selected(settings: Settings, name: str) -> bool:
    return not settings.only or any(word in name for word in settings.only)


@dataclass
class Result:
    key: str
    target: str
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""
    settle_s: float = 0.0
    cancelled: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(settings: Settings, url: str, token: str, mode: str, id_range: tuple[int, int] | None) -> Result:
    timeout = settings.duration + 5
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{settings.duration}s",
        f"--timeout={timeout}s",
        "--latency",
        "-s",
        str(BENCH / "wrk.lua"),
        url,
        "--",
        mode,
        *([str(id_range[0]), str(id_range[1])] if id_range else []),
    ]
    env = {**os.environ, "BENCH_TOKEN": token}
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=settings.duration + timeout + 60, check=False
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        return Result("", "", note=f"wrk failed ({result.returncode}): {result.stderr.strip()[:200]}")
    values = dict(pair.split("=") for pair in line.split()[1:])
    numbers = {k: int(v) for k, v in values.items()}
    ms = {q: (numbers[f"{q}_us"] / 1000 if numbers["requests"] else None) for q in ("p50", "p95", "p99")}
    errors = {name: numbers[name] for name in ("status", "connect", "read", "write", "timeout") if numbers[name]}
    return Result(
        "",
        "",
        requests=numbers["requests"],
        seconds=numbers["duration_us"] / 1e6,
        p50_ms=ms["p50"],
        p95_ms=ms["p95"],
        p99_ms=ms["p99"],
        errors=errors,
    )


# ---------------------------------------------------------------------------
# The run


@dataclass
class Run:
    settings: Settings
    processes: Processes
    database_url: str = ""
    mariadb: MariaDB | None = None
    token: str = ""
    password: str = ""
    urls: dict[str, str] = field(default_factory=dict)
    leaders: dict[str, subprocess.Popen] = field(default_factory=dict)
    id_range: tuple[int, int] = (1, 1)
    results: list[Result] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)
    web_port: int = 0

    def cancel_queries(self) -> int:
        """On MariaDB, cancel the queries of the requests wrk gave up on (the servers would otherwise run them to
        the end, into the next scenario). SQLite has no such thing: there, the harness waits."""
        if self.mariadb is None or self.mariadb.process is None:
            return 0
        engine = sqlalchemy.create_engine(self.mariadb.url())
        with engine.connect() as connection:
            ids = connection.exec_driver_sql(
                "SELECT id FROM information_schema.processlist "
                "WHERE command = 'Query' AND db = DATABASE() AND id <> CONNECTION_ID()"
            ).scalars()
            cancelled = 0
            for query_id in list(ids):
                with contextlib.suppress(sqlalchemy.exc.DBAPIError):
                    connection.exec_driver_sql(f"KILL QUERY {int(query_id)}")
                    cancelled += 1
        engine.dispose()
        return cancelled

    def extra_pids(self) -> list[int]:
        return [self.mariadb.process.pid] if self.mariadb and self.mariadb.process else []

    def start_app(self, name: str, target: str, app_dir: Path | None, env: dict[str, str], ready: str) -> None:
        port = free_port()
        command = [PY, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(self.settings.workers), "--no-access-log", "--log-level", "warning"]
        command += ["--http", HTTP_PROTOCOL, "--no-proxy-headers"]  # as `make run` serves it, no TRUSTED_PROXIES
        if app_dir is not None:
            command += ["--app-dir", str(app_dir)]
        self.leaders[name] = self.processes.start(name, command, env=env, cwd=BACKEND)
        self.urls[name] = f"http://127.0.0.1:{port}"
        wait_for(self.urls[name] + ready, self.leaders[name], name)

    def start_servers(self) -> None:
        self.web_port = free_port()
        env = app_env(
            self.database_url,
            APP_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(48),  # a new signing key at every run
            CORS_ORIGINS=f"http://127.0.0.1:{self.web_port}",
        )
        self.password = create_account(env, ADMIN_EMAIL, "Bench Admin", "admin")
        say(f"starting the API, {self.settings.workers} workers")
        self.start_app("api", "app.main:app", None, env, "/api/health")
        form = urllib.parse.urlencode({"username": ADMIN_EMAIL, "password": self.password}).encode()
        status, body = request(
            "POST", self.urls["api"] + "/api/auth/token", body=form, content_type="application/x-www-form-urlencoded"
        )
        if status != 200:
            raise SystemExit(f"sign-in failed: {status} {body[:200]!r}")
        self.token = json.loads(body)["access_token"]
        for i in range(RARE_COUNT):
            incident = {"title": f"Rare {RARE_WORD} sighting {i + 1}", "service": "bench-rare", "severity": "SEV3"}
            status, body = request(
                "POST", self.urls["api"] + "/api/incidents/", token=self.token, body=json.dumps(incident).encode()
            )
            if status != 201:
                raise SystemExit(f"creating the rare incidents failed: {status} {body[:200]!r}")
        engine = sqlalchemy.create_engine(self.database_url)
        with engine.connect() as connection:
            low, high = connection.exec_driver_sql("SELECT MIN(id), MAX(id) FROM incidents").one()
            self.extras["events"] = connection.exec_driver_sql("SELECT COUNT(*) FROM incident_events").scalar()
            self.extras["incidents"] = connection.exec_driver_sql("SELECT COUNT(*) FROM incidents").scalar()
            if self.settings.db == "mariadb":
                self.extras["table_sizes"] = connection.exec_driver_sql(
                    "SELECT table_name, ROUND(data_length / 1048576), ROUND(index_length / 1048576) "
                    "FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name"
                ).all()
        engine.dispose()
        self.id_range = (int(low), int(high) - RARE_COUNT)
        status, body = request("GET", self.urls["api"] + "/api/incidents/?limit=20", token=self.token)
        if status != 200:
            raise SystemExit(f"the list failed: {status} {body[:200]!r}")
        page_file = DATA / "ceiling-page.json"
        page_file.write_bytes(body)
        self.extras["page_bytes"] = len(body)
        self.extras["list_keys"] = sorted(json.loads(body))
        say("starting the framework ceiling and the naive app")
        self.start_app("ceiling", "ceiling:app", BENCH, {**env, "BENCH_CEILING_PAGE": str(page_file)}, "/bench/ceiling")
        self.start_app("naive", "naive_app:app", BENCH, app_env(self.database_url), "/openapi.json")

    def warm_up(self) -> None:
        seconds = 3
        say(f"warming up ({seconds} s per app)")
        for name, path in (("api", "/api/incidents/"), ("naive", "/api/incidents/"), ("ceiling", "/bench/ceiling")):
            quick = dataclasses.replace(self.settings, duration=seconds)
            run_wrk(quick, self.urls[name] + path, self.token, "get", None)
        settle(self.processes.groups(), self.extra_pids())

    def deep_cursor_path(self) -> tuple[str | None, str]:
        """Follow next_cursor (100 rows a hop) as deep as page=DEEP_PAGE goes; the URL of the page there."""
        status, body = request("GET", self.urls["api"] + "/api/incidents/?limit=100", token=self.token)
        if status != 200 or "next_cursor" not in json.loads(body):
            return None, "n/a (no next_cursor in the list answer)"
        hops = min((DEEP_PAGE - 1) * 20 // 100, self.settings.n // 100 - 1)
        cursor = json.loads(body)["next_cursor"]
        deadline = time.monotonic() + 120
        self.extras["cursor_rows"] = 100
        for _ in range(hops - 1):
            if not cursor or time.monotonic() > deadline:
                break
            self.extras["cursor_rows"] += 100
            query = urllib.parse.urlencode({"limit": 100, "cursor": cursor})
            status, body = request("GET", f"{self.urls['api']}/api/incidents/?{query}", token=self.token)
            if status != 200:
                return None, f"n/a (cursor answered {status})"
            cursor = json.loads(body).get("next_cursor")
        if not cursor:
            return None, "n/a (the cursor ran out)"
        return "/api/incidents/?" + urllib.parse.urlencode({"cursor": cursor}), ""

    def measure(self, scenario: Scenario, target: str, path: str) -> Result:
        url = self.urls[target] + path + (str(self.id_range[0]) if scenario.ids else "")
        if scenario.mode == "get":
            try:
                status, _ = request("GET", url, token=self.token, timeout=self.settings.duration + 5)
            except TimeoutError:
                status = 0  # slower than a whole scenario: wrk will say so
            if status in UNAVAILABLE:
                return Result(scenario.key, target, note=f"n/a (endpoint missing: {status})")
        base = self.urls[target] + path
        result = run_wrk(self.settings, base, self.token, scenario.mode, self.id_range if scenario.ids else None)
        result.key, result.target = scenario.key, target

        def cancel() -> None:
            result.cancelled += self.cancel_queries()

        result.settle_s = settle(self.processes.groups(), self.extra_pids(), cancel)
        return result

    def run_scenario(self, scenario: Scenario) -> None:
        for target in scenario.targets:
            if not selected(self.settings, f"{target} {scenario.key}"):
                continue
            path = scenario.path
            if scenario.key == "deep cursor":
                found, note = self.deep_cursor_path()
                if found is None:
                    self.results.append(Result(scenario.key, target, note=note))
                    say(f"{target} {scenario.key}: {note}")
                    continue
                path = found
            result = self.measure(scenario, target, path)
            self.results.append(result)
            say(f"{target} {scenario.key}: {describe(result)}")

    def export(self, name: str, path: str) -> None:
        """One full export with curl, timed, with the peak memory growth of the worker that served it."""
        if not selected(self.settings, name):
            return
        pids = worker_pids(self.leaders["api"])
        before = {pid: memory_kib(pid, "VmRSS") for pid in pids}
        exact_peak = True
        for pid in pids:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
            except OSError:
                exact_peak = False
        out = DATA / f"{name}.csv"
        curl = shutil.which("curl")
        if curl is None:
            self.extras[name] = "n/a (curl missing)"
            return
        command = [curl, "-sS", "-o", str(out), "-H", f"Authorization: Bearer {self.token}", "--max-time", "900"]
        command += ["-w", "%{http_code} %{size_download} %{time_starttransfer} %{time_total}"]
        result = subprocess.run(
            [*command, self.urls["api"] + path], capture_output=True, text=True, timeout=960, check=False
        )
        try:
            code, size, first_byte, total = result.stdout.split()
        except ValueError:
            self.extras[name] = f"failed: {result.stderr.strip()[:200]}"
            return
        growth = {pid: memory_kib(pid, "VmHWM") - before[pid] for pid in pids}
        if int(code) in UNAVAILABLE:
            self.extras[name] = f"n/a (endpoint missing: {code})"
        elif int(code) != 200:
            self.extras[name] = f"failed: HTTP {code}"
        else:
            with out.open(newline="", encoding="utf-8-sig") as file:
                rows = sum(1 for _ in csv.reader(file)) - 1
            worker = max(growth, key=growth.get)
            self.extras[name] = {
                "rows": rows,
                "bytes": int(size),
                "seconds": float(total),
                "first_byte_s": float(first_byte),
                "rows_per_s": rows / float(total) if float(total) else 0,
                "peak_growth_mib": growth[worker] / 1024,
                "exact_peak": exact_peak,
                "workers": len(pids),
            }
        out.unlink(missing_ok=True)
        say(f"{name}: {self.extras[name]}")
        settle(self.processes.groups(), self.extra_pids())

    def page_timing(self) -> None:
        if not self.settings.page or not selected(self.settings, "page timing"):
            return
        say("page timing in Chromium")
        command = [PY, str(BENCH / "page_timing.py"), "--api-url", self.urls["api"], "--web-port", str(self.web_port)]
        command += ["--email", ADMIN_EMAIL, "--runs", "5"]
        env = {**os.environ, "BENCH_PASSWORD": self.password}
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            self.extras["page"] = "failed: timed out after 300 s"
            return
        line = next((x for x in result.stdout.splitlines() if x.startswith("{")), None)
        self.extras["page"] = json.loads(line) if line else f"failed: {result.stderr.strip()[-300:]}"
        say(f"page timing: {self.extras['page']}")


def describe(result: Result) -> str:
    if result.note:
        return result.note
    return (
        f"{result.rps:,.1f} req/s, p50 {fmt_ms(result.p50_ms)}, p99 {fmt_ms(result.p99_ms)}, "
        f"{result.requests} answers, errors {fmt_errors(result)}"
    )


# ---------------------------------------------------------------------------
# The report


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def fmt_errors(result: Result) -> str:
    if result.note:
        return ""
    labels = {"status": "non-2xx", "timeout": "timeouts"}
    return ", ".join(f"{count} {labels.get(name, name)}" for name, count in result.errors.items()) or "0"


def fmt_rps(result: Result) -> str:
    return "" if result.note else f"{result.rps:,.1f}" if result.rps < 100 else f"{result.rps:,.0f}"


def ratio(mine: Result, other: Result | None) -> str:
    if other is None or mine.note or other.note or mine is other:
        return ""
    if mine.rps == 0:
        return "0 (no answers)"
    if other.rps == 0:
        return "∞ (other: 0 answers)" if mine.rps else "— (both 0)"
    value = mine.rps / other.rps
    return f"{value:,.0f}x" if value >= 100 else f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*: (.*)", cpuinfo)
    memory = memory_kib_total()
    load = os.getloadavg()
    return [
        f"- CPU: {model[1] if model else platform.processor()}, `nproc` {os.cpu_count()}",
        f"- RAM: {memory / 1024 / 1024:.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- Load average at the start (other work on the machine): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]


def memory_kib_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def versions(settings: Settings) -> list[str]:
    packages = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "pydantic", "pymysql"]
    packages += ["aiomysql", "aiosqlite", "playwright"]
    found = []
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    lines = [f"- Python {platform.python_version()}; " + ", ".join(found)]
    lines.append(f"- SQLite library {sqlite3.sqlite_version}")
    if settings.db == "mariadb":
        out = subprocess.run([MariaDB.tool("mariadbd"), "--version"], capture_output=True, text=True, check=False)
        lines.append(f"- {out.stdout.strip().rsplit('/', 1)[-1]}")  # without the binary's path
    wrk = subprocess.run([shutil.which("wrk") or "wrk", "-v"], capture_output=True, text=True, check=False)
    lines.append(f"- {(wrk.stdout + wrk.stderr).splitlines()[0].split(' Copyright')[0].strip()}")
    git = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if git.returncode == 0:
        lines.append(f"- Code: commit {git.stdout.strip()}")
    return lines


def database_config(settings: Settings) -> list[str]:
    if settings.db == "sqlite":
        return ["- SQLite file in bench/.data/ (WAL journal, foreign keys on, busy timeout 5 s: the app's pragmas)"]
    options = [
        line.strip()
        for line in (BENCH / "mariadb.cnf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "["))
    ]
    return [
        f"- Private MariaDB on 127.0.0.1:{settings.mariadb_port}, data directory under bench/.data/, "
        "config bench/mariadb.cnf: " + ", ".join(f"`{option.replace(' ', '')}`" for option in options),
        "- The API and the naive app connect over TCP to 127.0.0.1 with PyMySQL.",
    ]


def report(run: Run, marker: dict | None, started: datetime, elapsed: float, failure: str | None) -> str:
    settings = run.settings
    lines = [
        f"# make bench: {settings.db}, N={settings.n:,}, {settings.workers} workers, "
        f"{settings.connections} connections, {settings.duration} s per scenario",
        "",
        f"Run at {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min in all. Command: `{settings.command()}`",
        "",
    ]
    if failure:
        lines += [f"**The run failed:** {failure}", ""]
    lines += ["## Machine", "", *machine(), "", "## Versions", "", *versions(settings), "", "## Database", ""]
    lines += database_config(settings)
    if marker:
        seed = marker["seed"]
        lines.append(
            f"- Data set: {settings.n:,} incidents seeded by `{seed['command']}` in {seed['wall_s']} s wall clock, "
            f"maximum resident set size {seed.get('max_rss_mib', '?')} MiB (seeded {seed['seeded_at']}; each run "
            "works on a copy of it); plus 2 seed responders and the bench admin"
        )
    if "incidents" in run.extras:
        lines.append(
            f"- At the start of the measurements: {run.extras['incidents']:,} incidents (with {RARE_COUNT} "
            f"titled '{RARE_WORD}'), {run.extras['events']:,} audit events; a list page of 20 is "
            f"{run.extras['page_bytes']:,} bytes; list answer keys: {', '.join(run.extras['list_keys'])}"
        )
    for table, data_mib, index_mib in run.extras.get("table_sizes", []):
        lines.append(f"  - `{table}`: {data_mib} MiB data, {index_mib} MiB indexes")
    ceilings = sorted(
        (r for r in run.results if r.key in ("ceiling", *CEILING_AGAIN) and not r.note), key=lambda r: r.rps
    )
    ceiling = ceilings[len(ceilings) // 2] if ceilings else None
    lines += ["", "## Requests", ""]
    lines += [
        f"wrk, {settings.threads} threads, {settings.connections} connections, {settings.duration} s per row, "
        f"timeout {settings.duration + 5} s; latencies of the answers that came back. *x naive*: the API's requests/s "
        "over the naive app's for the same scenario; *x ceiling*: requests/s over the async ceiling's (the median "
        f"of its {len(ceilings)} measurements: {ceiling.rps if ceiling else 0:,.0f} req/s).",
        "",
        "| scenario | app | req/s | p50 | p95 | p99 | answers | errors | x naive | x ceiling |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    by = {(r.key, r.target): r for r in run.results}
    for r in run.results:
        naive = by.get((r.key, "naive")) if r.target == "api" else None
        cells = [
            r.key,
            r.target,
            fmt_rps(r),
            fmt_ms(r.p50_ms) if not r.note else "",
            fmt_ms(r.p95_ms) if not r.note else "",
            fmt_ms(r.p99_ms) if not r.note else "",
            "" if r.note else str(r.requests),
            r.note or fmt_errors(r),
            ratio(r, naive),
            ratio(r, ceiling),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if "cursor_rows" in run.extras:
        lines += ["", f"The deep cursor is the `next_cursor` after {run.extras['cursor_rows']:,} rows (100 a hop)."]
    cancelled = [r for r in run.results if r.cancelled]
    if cancelled:
        lines += ["", "Queries still running when wrk stopped (requests it had given up on), cancelled by `KILL QUERY`"]
        lines += [
            "before the next row (row: queries): "
            + ", ".join(f"{r.target} {r.key} {r.cancelled}" for r in cancelled)
            + "."
        ]
    slow = [r for r in run.results if r.settle_s > 2]
    if slow:
        lines += ["", "The servers were still busy after these rows (requests wrk had given up on), and the next row"]
        lines += ["waited for them: " + ", ".join(f"{r.target} {r.key} {r.settle_s:.0f} s" for r in slow) + "."]
    load = os.getloadavg()
    lines += ["", f"Load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (on {os.cpu_count()} CPUs)."]
    lines += ["", "## CSV export", ""]
    for name in ("incidents export", "audit export"):
        value = run.extras.get(name)
        if isinstance(value, dict):
            peak = "" if value["exact_peak"] else " (peak not reset: VmHWM since the start of the worker)"
            lines.append(
                f"- {name}: {value['rows']:,} rows, {value['bytes'] / 1048576:.1f} MiB in {value['seconds']:.2f} s "
                f"({value['rows_per_s']:,.0f} rows/s), first byte after {value['first_byte_s'] * 1000:.0f} ms; "
                f"peak RSS growth of the worker that served it: {value['peak_growth_mib']:.1f} MiB{peak} "
                f"({value['workers']} workers)"
            )
        elif value is not None:
            lines.append(f"- {name}: {value}")
    lines += ["", "## List page in Chromium", ""]
    page = run.extras.get("page")
    if isinstance(page, dict):
        lines.append(
            f"- Rows visible after {page['rows_ms_median']:.0f} ms (median of {len(page['rows_ms'])}: "
            f"{', '.join(f'{x:.0f}' for x in page['rows_ms'])} ms); cumulative layout shift {page['cls_median']:.3f} "
            f"(runs: {', '.join(f'{x:.3f}' for x in page['cls'])})"
        )
    else:
        lines.append(f"- {page or 'not measured (BENCH_PAGE=0 or BENCH_ONLY)'}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        say("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run([apt, "install", "-y", "wrk"], env=env, check=False).returncode != 0:
            subprocess.run([apt, "update"], env=env, check=False)
            subprocess.run([apt, "install", "-y", "wrk"], env=env, check=False)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: install it (Debian: `sudo apt-get install wrk`) and run make bench again")


def main() -> int:
    settings = Settings.from_env()
    ensure_wrk()
    DATA.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(LOGS, ignore_errors=True)  # the servers' logs of this run only
    RESULTS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    started, clock = datetime.now(UTC), time.monotonic()
    processes = Processes()
    run = Run(settings, processes)
    marker = None
    failure = None
    key = {"db": settings.db, "n": settings.n, "revision": schema_revision()}
    try:
        if settings.db == "mariadb":
            run.mariadb = MariaDB(processes, settings.mariadb_port)
            marker = run.mariadb.prepare(settings, key)
            run.database_url = run.mariadb.url()
        else:
            run.database_url, marker = prepare_sqlite(settings, key)
        run.start_servers()
        run.warm_up()
        for scenario in scenarios():
            run.run_scenario(scenario)
        run.page_timing()
        run.export("incidents export", "/api/incidents/export")
        run.export("audit export", "/api/audit/export")
        for scenario in WRITE_SCENARIOS:
            run.run_scenario(scenario)
    except (Exception, KeyboardInterrupt, SystemExit) as error:
        failure = f"{type(error).__name__}: {error}"
        say(f"stopping: {failure}")
    finally:
        processes.stop_all()
        if run.mariadb:
            run.mariadb.stop()
    text = report(run, marker, started, time.monotonic() - clock, failure)
    out = RESULTS / f"{started:%Y%m%dT%H%M%SZ}-{settings.db}-{settings.n}.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    say(f"written to {out.relative_to(ROOT)}")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
