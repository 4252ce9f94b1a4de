"""CPU per request of the hot API paths, with client and app in one process (httpx over ASGI: no server, no
network, no other process), so a change to the request path can be compared with the code before it on a busy
machine, where wrk's requests/s drift too much.

    cd backend && DATABASE_URL=mysql+pymysql://root@127.0.0.1:3306/some_db ../.venv/bin/python ../bench/cpu.py

The database must hold seeded incidents (`seed.py`) and an active account; the requests are signed with a token
of the first active account, minted with the settings' SECRET_KEY. The requests write nothing. Each scenario runs
`--requests` requests after a warm-up, in batches; the figure is the CPU time of this process
(`time.process_time()`, the client's share included) per request: the best batch, and the median batch. Run the
code before and after a change alternately, more than once: the best batches are the ones to compare.
"""

import argparse
import asyncio
import logging
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "backend"))

from app.config import get_settings
from app.main import create_app
from app.models import Incident, User
from app.security import create_access_token

SCENARIOS = {
    "health": "/api/health",
    "get one": "/api/incidents/{id}",
    "list": "/api/incidents/",
    "filter severity=SEV1": "/api/incidents/?severity=SEV1",
    "sort title asc": "/api/incidents/?sort_by=title&sort_order=asc",
    "search common (latency)": "/api/incidents/?search=latency",
    "search absent (zqxjv)": "/api/incidents/?search=zqxjv",
    "search rare (SLO on checkout-web)": "/api/incidents/?search=SLO%20on%20checkout-web",
}
BATCH = 25


async def measure(requests: int, only: list[str]) -> None:
    settings = get_settings()
    app = create_app(settings)
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
            for name, path in SCENARIOS.items():
                if only and not any(word in name for word in only):
                    continue

                async def one(name: str = name, path: str = path) -> None:
                    incident_id = random.randint(1, last_id)  # noqa: S311 - which incident to read, not a secret
                    response = await client.get(path.format(id=incident_id), headers=headers)
                    if response.status_code != 200:
                        raise SystemExit(f"{name}: {response.status_code} {response.text[:200]}")

                for _ in range(2 * BATCH):
                    await one()
                batches = []
                for _ in range(max(1, requests // BATCH)):
                    started = time.process_time()
                    for _ in range(BATCH):
                        await one()
                    batches.append((time.process_time() - started) / BATCH * 1000)
                print(f"{name:28s} best {min(batches):6.2f} ms   median {statistics.median(batches):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="measured requests per scenario (default 500)")
    parser.add_argument("--only", default="", help="comma-separated words: only the scenarios whose name has one")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    random.seed(1)
    asyncio.run(measure(args.requests, [word for word in args.only.split(",") if word]))


if __name__ == "__main__":
    main()
