"""Browser tests: the real API (uvicorn, SQLite file) and the real pages (scripts/serve_web.py) on free ports,
driven by Debian's Chromium through Playwright.

The accounts (one per role) are made once, after the migrations; every test starts with no incidents, events or
failed sign-ins and makes its own data through the API, with a token of the role it acts as. The browser starts
signed in as a responder (the token is put straight into localStorage, since signing in through the page costs
an argon2 hash); `@pytest.mark.role("viewer")` picks another role, `@pytest.mark.role(None)` starts signed out.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import sqlalchemy
from playwright.sync_api import BrowserContext, Page
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import Base, create_async_db_engine
from app.models import LiveSequence, Role, User
from app.schemas import UserCreate
from app.services import users as user_service
from tests.conftest import run_async, skip_unless_ci
from tests.e2e.helpers import TOKEN_KEY, session_value

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
# The API's signing key in these tests, so that a test can make an expired token the API would otherwise accept.
SECRET_KEY = "e2e-only-secret-key-0123456789abcdefghijklmnop"
DEFAULT_ROLE = "responder"


class Account(NamedTuple):
    email: str
    display_name: str
    role: str
    password: str


# One account per role, made once per session; the users table is kept between tests.
ACCOUNTS = {
    "admin": Account("admin@example.com", "Ada Admin", "admin", "admin-e2e-password"),
    "responder": Account("responder@example.com", "Rory Responder", "responder", "responder-e2e-password"),
    "viewer": Account("viewer@example.com", "Vic Viewer", "viewer", "viewer-e2e-password"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "role(name): the role the browser starts signed in as (default responder; None: signed out)"
    )


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


def role_of(request: pytest.FixtureRequest) -> str | None:
    marker = request.node.get_closest_marker("role")
    return marker.args[0] if marker else DEFAULT_ROLE


@pytest.fixture
def context(new_context: Callable[..., BrowserContext], request: pytest.FixtureRequest, web_url: str) -> BrowserContext:
    """A browser context signed in as the test's role: its token is in localStorage before any page loads."""
    role = role_of(request)
    if role is None:
        return new_context()
    token = request.getfixturevalue("tokens")[role]
    origins = [web_url]
    if "dead_api" in request.fixturenames:
        origins.append(request.getfixturevalue("dead_api").web_url)
    storage = [{"name": TOKEN_KEY, "value": session_value(token)}]
    state = {"cookies": [], "origins": [{"origin": origin, "localStorage": storage} for origin in origins]}
    return new_context(storage_state=state)


ContextAs = Callable[[str], BrowserContext]


@pytest.fixture
def context_as(new_context: Callable[..., BrowserContext], tokens: dict[str, str], web_url: str) -> ContextAs:
    """context_as("admin") -> another browser context, signed in with that role's token: a second person."""

    def make(role: str) -> BrowserContext:
        storage = [{"name": TOKEN_KEY, "value": session_value(tokens[role])}]
        return new_context(storage_state={"cookies": [], "origins": [{"origin": web_url, "localStorage": storage}]})

    return make


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
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
def api_url(servers_dir: Path, e2e_database_url: str, e2e_engine: sqlalchemy.Engine, web_port: int) -> Iterator[str]:
    """The API on a free port, on a freshly migrated SQLite file holding the three accounts."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": e2e_database_url,
        "CORS_ORIGINS": f"http://127.0.0.1:{web_port}",
        "APP_ENV": "test",
        "SECRET_KEY": SECRET_KEY,
        "FIRST_ADMIN_EMAIL": "",
        "LOGIN_FAILURE_DELAY_SECONDS": "0",  # a test that fails on purpose retries at once
    }
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=BACKEND_DIR, env=env, check=True, capture_output=True
    )
    for account in ACCOUNTS.values():
        create_account(e2e_engine, account)
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


def create_account(engine: sqlalchemy.Engine, account: Account) -> None:
    """The account, made by the service `python -m app.cli create-user` uses (argon2 hash and all)."""
    data = UserCreate(
        email=account.email, display_name=account.display_name, role=Role(account.role), password=account.password
    )

    async def create() -> None:
        async_engine = create_async_db_engine(engine.url.render_as_string(hide_password=False))
        try:
            async with AsyncSession(async_engine) as session, session.begin():
                await user_service.create_user(session, data)
        finally:
            await async_engine.dispose()

    run_async(create())


@pytest.fixture(scope="session")
def accounts(api_url: str) -> dict[str, Account]:
    """The three accounts (made with the API's database)."""
    return ACCOUNTS


MakeAccount = Callable[..., Account]


@pytest.fixture
def make_account(accounts: dict[str, Account], e2e_engine: sqlalchemy.Engine) -> MakeAccount:
    """make_account(role="responder", display_name=...) -> a fresh account (a unique email) for one test."""

    def make(role: str = "responder", display_name: str = "Fresh Account") -> Account:
        account = Account(f"user-{uuid.uuid4().hex[:12]}@example.com", display_name, role, "fresh-e2e-password")
        create_account(e2e_engine, account)
        return account

    return make


def sign_in(api_url: str, account: Account) -> str:
    response = httpx.post(
        f"{api_url}/api/auth/token", data={"username": account.email, "password": account.password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture(scope="session")
def tokens(api_url: str, accounts: dict[str, Account]) -> dict[str, str]:
    """A bearer token per role, asked for once per session."""
    return {role: sign_in(api_url, account) for role, account in accounts.items()}


@pytest.fixture(autouse=True)
def empty_tables(browser_type_launch_args: dict[str, Any], e2e_engine: sqlalchemy.Engine, web_url: str) -> None:
    """Every test starts with no incidents, events or failed sign-ins; the accounts stay, and so does the live feed's
    sequence: the running API remembers the last position it sent, so positions must keep growing (the browser
    check comes first: no servers without a browser)."""
    kept = {User.__tablename__, LiveSequence.__tablename__}
    with e2e_engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in kept:
                connection.execute(sqlalchemy.delete(table))


ApiAs = Callable[[str], httpx.Client]


@pytest.fixture(scope="session")
def api_as(api_url: str, tokens: dict[str, str]) -> Iterator[ApiAs]:
    """api_as("viewer") -> an httpx client of the API signed in with that role's token."""
    clients: dict[str, httpx.Client] = {}

    def client(role: str) -> httpx.Client:
        if role not in clients:
            clients[role] = httpx.Client(
                base_url=api_url, timeout=10, headers={"Authorization": f"Bearer {tokens[role]}"}
            )
        return clients[role]

    yield client
    for client_ in clients.values():
        client_.close()


@pytest.fixture(scope="session")
def api_client(api_as: ApiAs) -> httpx.Client:
    """The API as an admin (who sees everything): for checking what was stored."""
    return api_as("admin")


CreateIncident = Callable[..., dict[str, Any]]


@pytest.fixture
def create_incident(api_as: ApiAs) -> CreateIncident:
    """create_incident(title="...", severity="SEV1", ...) -> the API's incident, created by the responder (or by
    `as_role`, or with another account's `token`); unspecified fields get defaults."""

    def create(as_role: str = "responder", token: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"title": "Incident", "service": "api", "severity": "SEV3", **fields}
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = api_as(as_role).post("/api/incidents/", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
