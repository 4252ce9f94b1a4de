"""`GET /api/metrics` at scale: seed N incidents into the benchmark's private MariaDB (bench/mariadb.cnf), start
the API, and time the metrics request from outside (HTTP, one connection, one request at a time).

    nice -n 10 python bench/metrics.py                  # 1,000,000 incidents, 200 requests per query
    BENCH_N=100000 BENCH_REQUESTS=50 python bench/metrics.py

The data set is seeded once into bench/.data/metrics-pristine (reused while N and the schema are the same) and
copied for each run. Prints one line per query (p50, p95, max, in ms) and the SQL's own time of each statement the
request runs, measured on the server during the run; `--json` writes them to bench/results/.
"""

import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # the benchmark harness: the private server, the seed, the processes

N = int(os.environ.get("BENCH_N", "1000000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
PORT = int(os.environ.get("BENCH_MARIADB_PORT", "13316"))
PRISTINE, RUN_DIR = run.DATA / "metrics-pristine", run.DATA / "metrics-run"


def queries(now: datetime) -> dict[str, dict[str, object]]:
    """The requests timed: the default window (the target), filtered, and the longest window (two years)."""
    longest = {"from": (now - timedelta(days=730)).isoformat(), "to": now.isoformat()}
    return {
        "default window (12 weeks)": {},
        "service=payments-api": {"service": "payments-api"},
        "severity=SEV1&severity=SEV2": {"severity": ["SEV1", "SEV2"]},
        "service + severity": {"service": "payments-api", "severity": "SEV1"},
        "two years": longest,
    }


def prepare(mariadb: run.MariaDB) -> dict:
    # The schema's revision, and the text of the migration that made the metrics' tables (changed in place while
    # it is the newest).
    migration = next((run.BACKEND / "migrations" / "versions").glob("0012_*.py")).read_bytes()
    key = {"n": N, "schema": run.schema_revision(), "seed": 1, "metrics": hashlib.sha256(migration).hexdigest()}
    marker_path = PRISTINE / "bench-dataset.json"
    marker = run.read_marker(marker_path, key)
    if marker is None:
        run.say(f"new MariaDB data directory in {PRISTINE.relative_to(run.ROOT)}")
        mariadb.install(PRISTINE)
        mariadb.start(PRISTINE)
        engine = sqlalchemy.create_engine(mariadb.url(""))
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE DATABASE {run.DATABASE_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        engine.dispose()
        stats = run.seed_dataset(mariadb.url(), N)
        mariadb.stop()
        marker = {"key": key, "seed": stats}
        marker_path.write_text(json.dumps(marker, indent=2))
    else:
        run.say(f"reusing the data set seeded at {marker['seed']['seeded_at']}")
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(PRISTINE), str(RUN_DIR)], check=True)  # noqa: S607
    mariadb.start(RUN_DIR)
    return marker


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * p // 100) - 1)]


def statement_times(url: str, now: datetime) -> dict[str, float]:
    """Each statement of the default request, run on the server alone (median of 20, ms)."""
    sys.path.insert(0, str(run.BACKEND))
    from app.services import metrics

    window = metrics.window_of(None, None, now)
    statements = {
        "open now (incident_counts)": metrics.open_now_statement(None, []),
        "weeks": metrics.weeks_statement(window, None, []),
        "durations": metrics.durations_statement(window, None, []),
    }
    engine = sqlalchemy.create_engine(url)
    times = {}
    with engine.connect() as connection:
        for name, statement in statements.items():
            runs = []
            for _ in range(20):
                began = time.perf_counter()
                connection.execute(statement).all()
                runs.append((time.perf_counter() - began) * 1000)
            times[name] = round(statistics.median(runs), 1)
        tables = [model.__tablename__ for model in metrics.KEYS]
        counts = {table: connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar() for table in tables}
        times["rows"] = counts  # type: ignore[assignment]
    engine.dispose()
    return times


def main() -> int:
    processes = run.Processes()
    mariadb = run.MariaDB(processes, PORT)
    results: dict[str, object] = {"n": N, "requests": REQUESTS}
    try:
        marker = prepare(mariadb)
        results["seed"] = marker["seed"]
        env = run.app_env(mariadb.url(), APP_ENV="production", SECRET_KEY=secrets.token_urlsafe(48), CORS_ORIGINS="")
        password = run.create_account(env, run.ADMIN_EMAIL, "Bench Admin", "viewer")
        port = run.free_port()
        command = [run.PY, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "1", "--no-access-log", "--log-level", "warning", "--http", run.HTTP_PROTOCOL]
        api = processes.start("api", command, env=env, cwd=run.BACKEND)
        base = f"http://127.0.0.1:{port}"
        run.wait_for(base + "/api/health", api, "api")
        form = urllib.parse.urlencode({"username": run.ADMIN_EMAIL, "password": password}).encode()
        status, body = run.request(
            "POST", base + "/api/auth/token", body=form, content_type="application/x-www-form-urlencoded"
        )
        if status != 200:
            raise SystemExit(f"sign-in failed: {status} {body[:200]!r}")
        token = json.loads(body)["access_token"]
        now = datetime.now(UTC)
        timings = {}
        for name, params in queries(now).items():
            path = "/api/metrics?" + urllib.parse.urlencode(params, doseq=True)
            status, body = run.request("GET", base + path, token=token)  # warm-up, and the answer's size
            if status != 200:
                raise SystemExit(f"{path}: {status} {body[:300]!r}")
            answer = json.loads(body)
            times = []
            for _ in range(REQUESTS):
                began = time.perf_counter()
                status, _ = run.request("GET", base + path, token=token)
                times.append((time.perf_counter() - began) * 1000)
                if status != 200:
                    raise SystemExit(f"{path}: {status}")
            timings[name] = {
                "p50_ms": round(percentile(times, 50), 1),
                "p95_ms": round(percentile(times, 95), 1),
                "max_ms": round(max(times), 1),
                "incidents_in_figures": answer["durations"]["time_to_mitigate"]["count"],
            }
            print(f"{name:32} p50 {timings[name]['p50_ms']:7.1f} ms  p95 {timings[name]['p95_ms']:7.1f} ms  "
                  f"max {timings[name]['max_ms']:7.1f} ms  ({timings[name]['incidents_in_figures']:,} mitigated "
                  "incidents in the figures)", flush=True)  # fmt: skip
        results["http"] = timings
        results["sql_ms"] = statement_times(mariadb.url(), now)
        print("SQL alone (median of 20, ms):", json.dumps(results["sql_ms"]))
        if "--json" in sys.argv:
            run.RESULTS.mkdir(exist_ok=True)
            out = run.RESULTS / f"metrics-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
            out.write_text(json.dumps(results, indent=2))
            print(f"written to {out.relative_to(run.ROOT)}")
    finally:
        processes.stop_all()
        mariadb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
