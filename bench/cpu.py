"""CPU per request of the hot API paths, with client and app in one process (httpx over ASGI: no server, no
network, no other process), so a change to the request path can be compared with the code before it on a busy
machine, where wrk's requests/s drift too much.

    cd backend && DATABASE_URL=mysql+pymysql://root@127.0.0.1:3306/some_db ../.venv/bin/python ../bench/cpu.py

The database must hold seeded incidents (`seed.py`) and an active account; the requests are signed with a token
of the first active account (a responder or admin, for the writes), minted with the settings' SECRET_KEY. The reads
write nothing; `patch` sets a new description on a random incident and `create` adds incidents, each with its audit
event, as `make bench` does: use a database of its own. `ceiling` is the framework's constant route of `make bench`
(bench/ceiling.py: a real 20-incident list page, read once at start, returned as a dict by an `async def` route
through the same app and middleware, with no database and no token), so the ratios of the issue's targets can be
read in one process too.

Each scenario runs `--requests` requests after a warm-up, in batches; the figure is the CPU time of this process
(`time.process_time()`, the client's share included) per request: the best batch, and the median batch. Run the
code before and after a change alternately, more than once: the best batches are the ones to compare.
`--profile FILE` writes a cProfile of the measured requests of the scenarios run (read it with `pstats`).
"""

import argparse
import asyncio
import cProfile
import logging
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "backend"))

from app.config import get_settings
from app.main import create_app
from app.models import Incident, User
from app.security import create_access_token

# name: (method, path, body maker or None)
SCENARIOS: dict[str, tuple[str, str, Any]] = {
    "health": ("GET", "/api/health", None),
    "ceiling": ("GET", "/bench/ceiling", None),
    "get one": ("GET", "/api/incidents/{id}", None),
    "list": ("GET", "/api/incidents/", None),
    "filter severity=SEV1": ("GET", "/api/incidents/?severity=SEV1", None),
    "sort title asc": ("GET", "/api/incidents/?sort_by=title&sort_order=asc", None),
    "search common (latency)": ("GET", "/api/incidents/?search=latency", None),
    "search absent (zqxjv)": ("GET", "/api/incidents/?search=zqxjv", None),
    "search rare (SLO on checkout-web)": ("GET", "/api/incidents/?search=SLO%20on%20checkout-web", None),
    "patch": ("PATCH", "/api/incidents/{id}", lambda n: {"description": f"Benchmark edit {n} {time.time_ns()}"}),
    "create": (
        "POST",
        "/api/incidents/",
        lambda n: {
            "title": f"Benchmark incident {n}",
            "service": "bench-service",
            "severity": ("SEV1", "SEV2", "SEV3", "SEV4")[n % 4],
            "description": "Created by bench/cpu.py.",
        },
    ),
}
BATCH = 25


async def measure(requests: int, only: list[str], profile: str | None) -> None:
    settings = get_settings()
    app = create_app(settings)
    ceiling_page: dict[str, Any] = {}

    @app.get("/bench/ceiling", include_in_schema=False)
    async def ceiling() -> dict[str, Any]:
        return ceiling_page

    profiler = cProfile.Profile(time.process_time) if profile else None
    async with app.router.lifespan_context(app):
        async with app.state.session_factory() as session:
            user = await session.scalar(select(User).where(User.is_active).order_by(User.id).limit(1))
            last_id = await session.scalar(select(func.max(Incident.id)))
        if user is None or not last_id:
            raise SystemExit("the database needs an active account and seeded incidents")
        token = create_access_token(str(user.id), settings.secret_key, timedelta(hours=1), user.token_version)
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            ceiling_page.update((await client.get("/api/incidents/", headers=headers)).json())
            counter = 0
            for name, (method, path, body) in SCENARIOS.items():
                if only and not any(word in name for word in only):
                    continue

                async def one(method: str = method, path: str = path, body: Any = body, name: str = name) -> None:
                    nonlocal counter
                    counter += 1
                    incident_id = random.randint(1, last_id)  # noqa: S311 - which incident to read, not a secret
                    url = path.format(id=incident_id)
                    payload = None if body is None else body(counter)
                    response = await client.request(method, url, headers=headers, json=payload)
                    if response.status_code not in (200, 201):
                        raise SystemExit(f"{name}: {response.status_code} {response.text[:200]}")

                for _ in range(2 * BATCH):
                    await one()
                batches = []
                for _ in range(max(1, requests // BATCH)):
                    if profiler:
                        profiler.enable()
                    started = time.process_time()
                    for _ in range(BATCH):
                        await one()
                    batches.append((time.process_time() - started) / BATCH * 1000)
                    if profiler:
                        profiler.disable()
                print(f"{name:28s} best {min(batches):6.2f} ms   median {statistics.median(batches):6.2f} ms")
    if profiler and profile:
        profiler.dump_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="measured requests per scenario (default 500)")
    parser.add_argument("--only", default="", help="comma-separated words: only the scenarios whose name has one")
    parser.add_argument("--profile", default=None, help="write a cProfile of the measured requests to this file")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    random.seed(1)
    asyncio.run(measure(args.requests, [word for word in args.only.split(",") if word], args.profile))


if __name__ == "__main__":
    main()
