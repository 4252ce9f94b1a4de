"""The client address the sign-in throttle counts, through a real uvicorn process started as `make run` starts it
(`python -m app.cli serve`: the same uvicorn options): X-Forwarded-For is believed only from TRUSTED_PROXIES, so a
local process cannot pick a fresh address for every guess."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.config import BACKEND_DIR
from app.models import LoginFailure
from tests.e2e.conftest import free_port, start, stop

PER_CLIENT = 20  # LOGIN_MAX_FAILURES_PER_CLIENT's default


@contextmanager
def serving(sqlite_url: str, log: Path, **settings: str) -> Iterator[str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FIRST_ADMIN_", "LOGIN_"))}
    env |= {"APP_ENV": "test", "DATABASE_URL": sqlite_url, "API_HOST": "127.0.0.1", "API_PORT": str(port)}
    env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own default for it is 127.0.0.1
    env |= settings
    url = f"http://127.0.0.1:{port}"
    process = start(
        [sys.executable, "-m", "app.cli", "serve"], cwd=BACKEND_DIR, env=env, ready_url=f"{url}/api/health", log=log
    )
    try:
        yield url
    finally:
        stop(process)


def guess(url: str, n: int) -> int:
    """A wrong password for another email each time (below every per-email limit), from a claimed address."""
    response = httpx.post(
        f"{url}/api/auth/token",
        data={"username": f"nobody{n}@example.com", "password": "wrong password"},
        headers={"X-Forwarded-For": f"203.0.113.{n}"},
        timeout=30,
    )
    return response.status_code


def counted_clients(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(select(LoginFailure.client).order_by(LoginFailure.id)))


def test_a_spoofed_forwarded_for_does_not_change_the_address_the_throttle_counts(sqlite_url, engine, tmp_path):
    with serving(sqlite_url, tmp_path / "api.log") as url:
        statuses = [guess(url, n) for n in range(PER_CLIENT + 1)]

    assert statuses == [401] * PER_CLIENT + [429]
    assert counted_clients(engine) == ["127.0.0.1"] * PER_CLIENT


def test_a_trusted_proxy_s_forwarded_for_is_the_client_address(sqlite_url, engine, tmp_path):
    with serving(sqlite_url, tmp_path / "api.log", TRUSTED_PROXIES="127.0.0.1") as url:
        statuses = [guess(url, n) for n in range(PER_CLIENT + 1)]

    assert statuses == [401] * (PER_CLIENT + 1)  # each a client of its own, once
    assert counted_clients(engine) == [f"203.0.113.{n}" for n in range(PER_CLIENT + 1)]
