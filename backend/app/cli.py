"""Command line of the Incident Tracker, run from backend/: `python -m app.cli --help`."""

import argparse
import asyncio
import getpass
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.bootstrap import DemoAccount, ensure_demo_accounts, usable_demo_accounts
from app.config import BACKEND_DIR, ROOT_DIR, Settings, get_settings
from app.database import create_async_db_engine
from app.errors import AppError
from app.models import Role
from app.schemas import UserCreate
from app.services import users as user_service

# uvicorn's httptools protocol with a ceiling on the request head; the image and the benchmark pass it as `--http`.
HTTP_PROTOCOL = "app.http_server:HttpToolsProtocol"


def migrate() -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`)."""
    command.upgrade(Config(str(BACKEND_DIR / "alembic.ini")), "head")


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[AsyncSession]:
    """One transaction on the configured database, through the same services as the API: committed if the block
    ends normally, else rolled back."""
    settings = get_settings()
    engine = create_async_db_engine(settings.database_url, timeouts=settings.database_timeouts)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def demo_accounts() -> None:
    """On a database with no accounts (unless FIRST_ADMIN_EMAIL is set, or in production), create one demo account
    per role; then list, with their passwords, the demo accounts that still sign in with them (active, and the
    password not changed since)."""
    accounts = asyncio.run(_demo_accounts(get_settings()))
    if accounts:
        print("Demo accounts (for trying it out; never in production):")
        for account in accounts:
            print(f"  {account.role.value:<10} {account.email:<24} password: {account.password}")


async def _demo_accounts(settings: Settings) -> list[DemoAccount]:
    async with unit_of_work() as session:
        if not settings.first_admin_email and settings.app_env != "production":
            await ensure_demo_accounts(session)
        return await usable_demo_accounts(session)


def seed_if_empty(count: int = 200) -> None:
    from seed import seed  # backend/seed.py, on the path when run from backend/

    added = seed(get_settings().database_url, count)
    print(f"Seeded {added} incidents." if added else "Database already has incidents; not seeding.")


def read_password(from_stdin: bool) -> str:
    """The new account's password: the first line of standard input, or asked twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != password:
        raise SystemExit("The passwords do not match.")
    return password


async def _create_user(data: UserCreate) -> None:
    async with unit_of_work() as session:
        user = await user_service.create_user(session, data)
        print(f"Created {user.role.value} {user.email} (id {user.id}).")


def create_user(email: str, display_name: str, role: str, password_stdin: bool) -> int:
    password = read_password(password_stdin)
    try:
        data = UserCreate(email=email, display_name=display_name, role=Role(role), password=password)
        asyncio.run(_create_user(data))
    except ValidationError as exc:
        for error in exc.errors():
            print(f"{'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How the API is served (`make run`, `serve`, the image).

    No per-message compression on the live feed: each message is compressed once per connection, which at a
    thousand watchers costs more CPU than the messages (a few hundred bytes of JSON) are worth. The HTTP protocol
    is uvicorn's default with a ceiling on the request head (app/http_server.py).

    X-Forwarded-For and X-Forwarded-Proto are believed only from TRUSTED_PROXIES. uvicorn would otherwise believe
    them from 127.0.0.1, so that any local process could pick the client address the sign-in throttle counts."""
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        "ws_per_message_deflate": False,
        "http": HTTP_PROTOCOL,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or None,
    }


def serve(settings: Settings) -> None:
    uvicorn.run("app.main:app", **uvicorn_options(settings))


def run() -> int:
    """Migrate, seed an empty database, then serve the API and the pages until Ctrl-C."""
    settings = get_settings()
    migrate()
    demo_accounts()
    seed_if_empty()
    sys.path.insert(0, str(ROOT_DIR / "scripts"))
    from serve_web import make_server  # scripts/serve_web.py: the pages' static server

    # The pages are served from a thread of this process, so they stop with the API whatever stops it.
    web = make_server(settings.web_host, settings.web_port, settings.api_url)
    threading.Thread(target=web.serve_forever, name="web", daemon=True).start()
    print(
        f"Pages: http://{settings.web_host}:{settings.web_port}   API: {settings.api_url}   "
        f"API docs: {settings.api_url}/docs",
        flush=True,
    )
    try:
        serve(settings)
    finally:
        web.shutdown()
        web.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Incident Tracker commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="migrate, seed an empty database, serve the API and the pages")
    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("serve", help="serve the API alone (API_HOST, API_PORT, TRUSTED_PROXIES), as `run` does")
    create = commands.add_parser(
        "create-user",
        help="create an account (the password is asked for, without echo)",
        description="Create an account. The password is asked for twice without echo, or read from the first "
        "line of standard input with --password-stdin.",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command == "create-user":
        return create_user(args.email, args.name, args.role, args.password_stdin)
    if args.command == "serve":
        serve(get_settings())
        return 0
    migrate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
