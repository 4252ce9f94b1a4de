"""Fixtures shared by every suite: databases made from the migrations, and clean data for every test."""

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, delete, text
from sqlalchemy.engine import make_url

from app.config import BACKEND_DIR
from app.database import Base, create_db_engine


def skip_unless_ci(reason: str) -> None:
    """Locally a missing database or browser skips, saying why; in CI (CI is set) it is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI requires it)", pytrace=False)
    pytest.skip(reason)


T = TypeVar("T")


def in_a_thread(function: Callable[..., T], *args: Any) -> T:
    """Call `function` in a thread of its own and return what it returns (or raise what it raised): code that runs
    an event loop of its own cannot run in this thread, where one may be running already (Playwright's sync API
    runs one under the browser tests)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on an event loop of its own (see `in_a_thread`)."""
    return in_a_thread(asyncio.run, coroutine)


def alembic_config(url: str) -> Config:
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def reset_mysql_database(url: str) -> None:
    """Create the suite's MySQL database if needed and drop every table in it, so migrations start from zero."""
    parsed = make_url(url)
    server = create_db_engine(parsed.set(database="").render_as_string(hide_password=False))
    with server.begin() as connection:
        connection.execute(
            text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    server.dispose()
    engine = create_db_engine(url)
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    engine.dispose()


def mysql_url_or_skip() -> str:
    url = os.environ.get("TEST_MYSQL_URL", "")
    if not url:
        skip_unless_ci("TEST_MYSQL_URL is not set, so the MySQL run is skipped")
    return url


def clear_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'incidents.db'}"
    migrate(url)
    return url


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """A plain engine on the session's SQLite database, its tables emptied before and after the test."""
    engine = create_db_engine(sqlite_url)
    clear_tables(engine)
    yield engine
    clear_tables(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_url() -> str:
    url = mysql_url_or_skip()
    reset_mysql_database(url)
    migrate(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The API suite runs once per database: SQLite always, MySQL when TEST_MYSQL_URL is set."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()
