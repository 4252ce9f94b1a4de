"""Command line of the Incident Tracker, run from backend/: `python -m app.cli --help`."""

import argparse
import sys
import threading

import uvicorn
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session

from app.config import BACKEND_DIR, ROOT_DIR, get_settings
from app.database import create_db_engine


def migrate() -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`)."""
    command.upgrade(Config(str(BACKEND_DIR / "alembic.ini")), "head")


def seed_if_empty(count: int = 200) -> None:
    from seed import seed  # backend/seed.py, on the path when run from backend/

    engine = create_db_engine(get_settings().database_url)
    with Session(engine) as session, session.begin():
        added = seed(session, count)
    engine.dispose()
    print(f"Seeded {added} incidents." if added else "Database already has incidents; not seeding.")


def run() -> int:
    """Migrate, seed an empty database, then serve the API and the pages until Ctrl-C."""
    settings = get_settings()
    migrate()
    seed_if_empty()
    sys.path.insert(0, str(ROOT_DIR / "scripts"))
    from serve_web import make_server  # scripts/serve_web.py: the pages' static server

    # The pages are served from a thread of this process, so they stop with the API whatever stops it.
    web = make_server(settings.web_host, settings.web_port, settings.api_url)
    threading.Thread(target=web.serve_forever, name="web", daemon=True).start()
    print(f"Pages: http://{settings.web_host}:{settings.web_port}   API: {settings.api_url}   "
          f"API docs: {settings.api_url}/docs", flush=True)
    try:
        uvicorn.run("app.main:app", host=settings.api_host, port=settings.api_port)
    finally:
        web.shutdown()
        web.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Incident Tracker commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="migrate, seed an empty database, serve the API and the pages")
    commands.add_parser("migrate", help="apply the database migrations")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    migrate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
