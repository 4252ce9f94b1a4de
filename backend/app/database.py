"""Engine, session factory and the declarative base.

MySQL/MariaDB connections always use utf8mb4, strict SQL mode and UTC, so an overlong value is an error and
never a silent truncation, emoji round-trip, and `DATETIME` columns hold UTC. SQLite enforces foreign keys.

`is_unreachable()` is the one definition of "the database does not answer", which the API reports as 503.

The API runs on SQLAlchemy's asyncio extension (aiomysql, which runs PyMySQL underneath, and aiosqlite):
`create_async_db_engine()`. Migrations, the seed script and the tests' own setup use the plain engine of
`create_db_engine()`. Both are configured by the same code, so a connection behaves the same either way.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.types import TypeDecorator, TypeEngine

MYSQL_SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (microsecond precision) and always read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# The asyncio driver of each database the app supports.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "mysql": "aiomysql", "mariadb": "aiomysql"}


def _engine_options(parsed: URL) -> tuple[URL, dict[str, Any]]:
    """The URL and the engine options for a database, whichever driver (plain or asyncio) talks to it.

    No pre-ping: it would cost a round trip on every checkout. A connection that the server has dropped fails its
    statement and is discarded (`is_unreachable()`); `pool_recycle` replaces connections before MySQL's idle
    timeout."""
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed, {"connect_args": {"check_same_thread": False}}
    if backend in ("mysql", "mariadb"):
        init = f"SET SESSION sql_mode='{MYSQL_SQL_MODE}', time_zone='+00:00'"
        return parsed.update_query_dict({"charset": "utf8mb4"}), {
            "pool_recycle": 3600,
            "pool_size": 10,
            "max_overflow": 20,
            "connect_args": {"init_command": init},
        }
    return parsed, {}


def _configure(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "handle_error", _mark_failed_connect)


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """A plain (blocking) engine: migrations, the seed script, the CLI's start-up work, tests' setup."""
    parsed, options = _engine_options(make_url(url))
    engine = create_engine(parsed, echo=echo, **options)
    _configure(engine)
    return engine


def create_async_db_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """The API's engine: the same database through its asyncio driver."""
    parsed, options = _engine_options(make_url(url))
    backend = parsed.get_backend_name()
    if backend in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    engine = create_async_engine(parsed, echo=echo, **options)
    _configure(engine.sync_engine)
    return engine


def _mark_failed_connect(context: ExceptionContext) -> None:
    """A connection that cannot even be opened (server down, refused, unknown host, SQLite file that cannot be
    opened) counts as lost: SQLAlchemy flags only a connection that drops once open (`connection_invalidated`)."""
    if context.connection is None and not context.is_pre_ping:
        context.is_disconnect = True


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached, rather than that it refused a statement: no connection
    could be opened, the connection dropped, or none became free in the pool in time."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated
    return isinstance(exc, sa_exc.TimeoutError)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # SQLite's own lower() folds only ASCII; case-insensitive search must fold "É" like MySQL does.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class AppSession(Session):
    """The ORM session of a request. `info["wrote"]` says whether it has written anything, so that a read-only
    request ends with a ROLLBACK (which returning the connection to the pool needs anyway) instead of a COMMIT."""


@event.listens_for(AppSession, "after_flush")
def _flushed(session: Session, _context: UOWTransaction) -> None:
    session.info["wrote"] = True


@event.listens_for(AppSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["wrote"] = True


def create_session_factory(engine: AsyncEngine, info: dict[str, Any] | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions of the app; `info` is copied into each session's `info` (the live feed's doorbell)."""
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AppSession, info=info or {})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: commit when the endpoint returns having written, roll back when it raises.

    Services only flush; this is the one place that commits. Used with `scope="function"` so the commit
    happens before the response is sent, and a failed commit is an error response, not a lost write.
    """
    session: AsyncSession = request.app.state.session_factory()
    try:
        yield session
        if session.info.get("wrote"):
            await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()
