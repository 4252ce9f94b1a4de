"""Browser tests: the real API (uvicorn, SQLite file) and the real pages (scripts/serve_web.py) on free ports,
driven by Debian's Chromium through Playwright. Every test starts from an empty `incidents` table and makes
its own data through the API."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import sqlalchemy
from playwright.sync_api import Page

from app.models import Incident
from tests.conftest import skip_unless_ci

BACKEND_DIR = Path(__file__).resolve().parents[2]
ROOT_DIR = BACKEND_DIR.parent
SERVE_WEB = ROOT_DIR / "scripts" / "serve_web.py"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 30


# ---------------------------------------------------------------------------
# Browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        skip_unless_ci(f"Chromium not found at {CHROMIUM} (install the `chromium` package or set CHROMIUM_PATH)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], web_url: str) -> dict[str, Any]:
    # A fixed locale and time zone make the exact times predictable.
    return {**browser_context_args, "base_url": web_url, "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


# ---------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}", pytrace=False)


def start(command: list[str], *, cwd: Path, env: dict[str, str], ready_url: str, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(ready_url, process, log)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def e2e_database_url(servers_dir: Path) -> str:
    return f"sqlite:///{servers_dir / 'e2e.db'}"


@pytest.fixture(scope="session")
def api_url(servers_dir: Path, e2e_database_url: str, web_port: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": e2e_database_url,
        "CORS_ORIGINS": f"http://127.0.0.1:{web_port}",
        "APP_ENV": "test",
    }
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=BACKEND_DIR, env=env, check=True, capture_output=True
    )
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    process = start(command, cwd=BACKEND_DIR, env=env, ready_url=f"{url}/api/health", log=servers_dir / "api.log")
    yield url
    stop(process)


def start_web(port: int, api_port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "WEB_PORT": str(port), "API_PORT": str(api_port)}
    for name in ("API_BASE_URL", "PUBLIC_API_URL"):
        env.pop(name, None)  # API_PORT must decide
    return start(
        [sys.executable, str(SERVE_WEB)],
        cwd=ROOT_DIR,
        env=env,
        ready_url=f"http://127.0.0.1:{port}/index.html",
        log=log,
    )


@pytest.fixture(scope="session")
def web_url(servers_dir: Path, api_url: str, web_port: int) -> Iterator[str]:
    api_port = int(api_url.rsplit(":", 1)[1])
    process = start_web(web_port, api_port, servers_dir / "web.log")
    yield f"http://127.0.0.1:{web_port}"
    stop(process)


class DeadApi(NamedTuple):
    web_url: str  # the pages...
    api_url: str  # ...configured with this API address, where nothing listens


@pytest.fixture(scope="session")
def dead_api(servers_dir: Path) -> Iterator[DeadApi]:
    """The pages served a second time, pointed at a port where no API listens."""
    web_port, dead_port = free_port(), free_port()
    process = start_web(web_port, dead_port, servers_dir / "web-dead-api.log")
    yield DeadApi(f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{dead_port}")
    stop(process)


# ---------------------------------------------------------------------------
# Data


@pytest.fixture(scope="session")
def e2e_engine(e2e_database_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(e2e_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def empty_incidents(browser_type_launch_args: dict[str, Any], e2e_engine: sqlalchemy.Engine, web_url: str) -> None:
    """Every test starts with no incidents (the browser check comes first: no servers without a browser)."""
    with e2e_engine.begin() as connection:
        connection.execute(sqlalchemy.delete(Incident.__table__))


@pytest.fixture(scope="session")
def api_client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=10) as client:
        yield client


CreateIncident = Callable[..., dict[str, Any]]


@pytest.fixture
def create_incident(api_client: httpx.Client) -> CreateIncident:
    """create_incident(title="...", severity="SEV1", ...) -> the API's incident; unspecified fields get defaults."""

    def create(**fields: Any) -> dict[str, Any]:
        body = {"title": "Incident", "service": "api", "severity": "SEV3", **fields}
        response = api_client.post("/api/incidents/", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return create
