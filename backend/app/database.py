"""Engine, session factory and the declarative base.

MySQL/MariaDB connections always use utf8mb4, strict SQL mode and UTC, so an overlong value is an error and
never a silent truncation, emoji round-trip, and `DATETIME` columns hold UTC. SQLite enforces foreign keys.

`is_unreachable()` is the one definition of "the database does not answer", which the API reports as 503.

Every wait for the database is bounded (`DatabaseTimeouts`, from the DB_*_TIMEOUT_SECONDS settings): opening a
connection, each wait for an answer from the server, and waiting for a free connection in the pool. A database that
stops answering (a frozen server, a cut network, a writer holding SQLite's lock) makes a request fail in seconds,
and a connection that timed out is closed and dropped from the pool, never handed to the next request with an
answer still on its way.

The API runs on SQLAlchemy's asyncio extension (aiomysql, which runs PyMySQL underneath, and aiosqlite):
`create_async_db_engine()`. Migrations, the seed script and the tests' own setup use the plain engine of
`create_db_engine()`. Both are configured by the same code, so a connection behaves the same either way.
"""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiomysql
from fastapi import Request
from pymysql.constants import CR
from pymysql.err import OperationalError as PyMySQLOperationalError
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
# SQLite's lock wait of the plain engine (migrations, the seed, tests' setup), which has no statement timeout.
PLAIN_SQLITE_BUSY_SECONDS = 5.0


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long the API waits for the database, in seconds (settings DB_CONNECT_TIMEOUT_SECONDS,
    DB_STATEMENT_TIMEOUT_SECONDS, DB_POOL_TIMEOUT_SECONDS; README "Settings").

    - connect: to open a connection, the whole of it (TCP, the server's greeting, sign-in, the session's settings);
    - statement: each wait for an answer from the server (MySQL: any one read from the socket, as PyMySQL's
      read_timeout; SQLite: a lock held by another connection). It bounds the wait for *one* answer, not a whole
      result: a streamed export of a million rows receives data all along and runs as long as it needs;
    - pool: for a free connection when all the pool's are in use.
    """

    connect: float = 3.0
    statement: float = 5.0
    pool: float = 3.0

    @property
    def bound(self) -> float:
        """The longest a request waits on a stalled database before it fails (one wait for a connection, then
        opening one or waiting for an answer on one)."""
        return self.pool + max(self.connect, self.statement)


class StatementTimedOut(PyMySQLOperationalError):
    """No answer from the MySQL server within the statement timeout: the connection is closed (code 2013, "lost
    connection", so SQLAlchemy treats it as a disconnect and drops it from the pool)."""


class BoundedConnection(aiomysql.Connection):
    """aiomysql's connection with a bound on every wait for the server, as PyMySQL's `read_timeout` does (aiomysql
    0.3.2 has none: `_read_bytes` waits on `StreamReader.readexactly` for ever). aiomysql never waits on a write
    (it does not drain its writer), so a bounded read bounds a statement's round trip, writes included.

    A read that times out closes the socket, so an answer that comes later cannot be read as the answer to the
    connection's next statement; aiomysql reports every later use as "not connected". The timer is armed only when
    the bytes are not already buffered: a result streams without a timer per row (an armed `asyncio.timeout` costs
    about 6 us, two reads per row)."""

    def __init__(self, *args: Any, statement_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statement_timeout = statement_timeout

    async def _read_bytes(self, num_bytes: int) -> bytes:
        reader = self._reader
        if reader is not None and len(reader._buffer) >= num_bytes:  # asyncio.StreamReader's buffer
            return await super()._read_bytes(num_bytes)
        try:
            async with asyncio.timeout(self.statement_timeout):
                return await super()._read_bytes(num_bytes)
        except TimeoutError as exc:
            self.close()
            message = f"Lost connection to MySQL server during query (no answer in {self.statement_timeout:g} s)"
            raise StatementTimedOut(CR.CR_SERVER_LOST, message) from exc


async def _connect_bounded(*, connect_timeout: float, statement_timeout: float, **kwargs: Any) -> BoundedConnection:
    """Open a `BoundedConnection`, all of it within `connect_timeout` (aiomysql's own bounds only the TCP connect: a
    frozen server's kernel still accepts the connection, and then the greeting never comes)."""
    connection = BoundedConnection(statement_timeout=statement_timeout, connect_timeout=connect_timeout, **kwargs)
    try:
        async with asyncio.timeout(connect_timeout):
            await connection._connect()  # what aiomysql.connect() awaits
    except TimeoutError as exc:
        connection.close()
        message = f"Can't connect to MySQL server on {kwargs.get('host')!r} (no answer in {connect_timeout:g} s)"
        raise PyMySQLOperationalError(CR.CR_CONN_HOST_ERROR, message) from exc
    return connection


def _engine_options(parsed: URL, timeouts: DatabaseTimeouts | None, *, is_async: bool) -> tuple[URL, dict[str, Any]]:
    """The URL and the engine options for a database, for its plain or its asyncio driver.

    No pre-ping: it would cost a round trip on every checkout. A connection that the server has dropped fails its
    statement and is discarded (`is_unreachable()`; a read is tried again on a fresh one, see app.errors);
    `pool_recycle` replaces connections before MySQL's idle timeout.

    With `timeouts` (the API's engine), every wait is bounded (`DatabaseTimeouts`). Without (the plain engine of
    migrations and the seed, whose statements may rightly run for minutes), only opening a connection is."""
    backend = parsed.get_backend_name()
    pool = {"pool_timeout": timeouts.pool} if timeouts else {}
    if backend == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        return parsed, {"connect_args": {"check_same_thread": False}, **({} if memory else pool)}
    if backend in ("mysql", "mariadb"):
        init = f"SET SESSION sql_mode='{MYSQL_SQL_MODE}', time_zone='+00:00'"
        connect_args: dict[str, Any] = {"init_command": init}
        connect = (timeouts or DatabaseTimeouts()).connect
        if is_async and timeouts:
            # SQLAlchemy's aiomysql adapter calls this instead of aiomysql.connect(), with the URL's arguments.
            connect_args["async_creator_fn"] = partial(
                _connect_bounded, connect_timeout=connect, statement_timeout=timeouts.statement
            )
        else:
            connect_args["connect_timeout"] = connect
            if timeouts:
                connect_args["read_timeout"] = connect_args["write_timeout"] = timeouts.statement
        return parsed.update_query_dict({"charset": "utf8mb4"}), {
            "pool_recycle": 3600,
            "pool_size": 10,
            "max_overflow": 20,
            "connect_args": connect_args,
            **pool,
        }
    return parsed, {}


def _configure(engine: Engine, busy_seconds: float) -> None:
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_on_connect, busy_ms=round(busy_seconds * 1000)))
    event.listen(engine, "handle_error", _mark_failed_connect)


def create_db_engine(url: str, *, echo: bool = False, timeouts: DatabaseTimeouts | None = None) -> Engine:
    """A plain (blocking) engine: migrations, the seed script, tests' setup. Only opening a connection is bounded,
    unless `timeouts` are given."""
    parsed, options = _engine_options(make_url(url), timeouts, is_async=False)
    engine = create_engine(parsed, echo=echo, **options)
    _configure(engine, timeouts.statement if timeouts else PLAIN_SQLITE_BUSY_SECONDS)
    return engine


def create_async_db_engine(url: str, *, echo: bool = False, timeouts: DatabaseTimeouts | None = None) -> AsyncEngine:
    """The API's engine: the same database through its asyncio driver, every wait bounded by `timeouts` (the
    defaults of `DatabaseTimeouts` when not given).

    The pool does not roll back a connection it gets back (`pool_reset_on_return=None`): every session and
    connection of the API ends its transaction itself (commit, rollback, or dropping a connection that failed), so
    that ROLLBACK would be a second round trip on every request; and to a stalled database, a second wait."""
    timeouts = timeouts or DatabaseTimeouts()
    parsed, options = _engine_options(make_url(url), timeouts, is_async=True)
    options["pool_reset_on_return"] = None
    backend = parsed.get_backend_name()
    if backend in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    engine = create_async_engine(parsed, echo=echo, **options)
    _configure(engine.sync_engine, timeouts.statement)
    return engine


def _mark_failed_connect(context: ExceptionContext) -> None:
    """A connection that cannot even be opened (server down, refused, unknown host, SQLite file that cannot be
    opened) counts as lost: SQLAlchemy flags only a connection that drops once open (`connection_invalidated`)."""
    if context.connection is None and not context.is_pre_ping:
        context.is_disconnect = True


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached, rather than that it refused a statement: no connection
    could be opened, the connection dropped or gave no answer in time, none became free in the pool in time, or
    (SQLite) another connection held the lock for longer than the statement timeout."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or _is_sqlite_busy(exc.orig)
    return isinstance(exc, sa_exc.TimeoutError)


# MySQL client errors of a connection that was open and dropped: "server has gone away", "lost connection".
_LOST_CONNECTION_CODES = {CR.CR_SERVER_GONE_ERROR, CR.CR_SERVER_LOST, CR.CR_SERVER_LOST_EXTENDED}


def is_lost_connection(exc: BaseException) -> bool:
    """Whether `exc` is an open connection that dropped at once (the server restarted, or a proxy or the network
    cut it), as opposed to one that gave no answer in time or could not be opened: the case where trying again on
    a fresh connection is likely to work, and cheap when it does not."""
    if not isinstance(exc, sa_exc.DBAPIError) or not exc.connection_invalidated:
        return False
    orig = exc.orig
    if isinstance(orig, StatementTimedOut):
        return False
    return bool(getattr(orig, "args", None)) and orig.args[0] in _LOST_CONNECTION_CODES


def _is_sqlite_busy(orig: BaseException | None) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (with their extended codes): the lock wait ended without the lock."""
    code = getattr(orig, "sqlite_errorcode", None)
    return (
        isinstance(orig, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF
        in (
            sqlite3.SQLITE_BUSY,
            sqlite3.SQLITE_LOCKED,
        )
    )


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_on_connect(dbapi_connection, _record, *, busy_ms: int) -> None:
    # SQLite's own lower() folds only ASCII; case-insensitive search must fold "É" like MySQL does.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.close()


class AppSession(Session):
    """The ORM session of a request. `info["wrote"]` says whether it has written anything, so that a read-only
    request ends with a ROLLBACK (which ends its transaction: the pool does not) instead of a COMMIT."""


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


# The request state's flag that its unit of work wrote something (a read that wrote is never tried again).
WROTE_STATE = "database_wrote"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: commit when the endpoint returns having written, roll back when it raises.

    Services only flush; this is the one place that commits. Used with `scope="function"` so the commit
    happens before the response is sent, and a failed commit is an error response, not a lost write. Whether the
    unit of work wrote is kept in the request's state: a GET that lost its connection is tried again only if it
    wrote nothing (app.errors).
    """
    session: AsyncSession = request.app.state.session_factory()
    try:
        yield session
        if session.info.get("wrote"):
            setattr(request.state, WROTE_STATE, True)
            await session.commit()
    except BaseException as exc:
        if session.info.get("wrote"):
            setattr(request.state, WROTE_STATE, True)
        await end_after_failure(session, exc)
        raise
    finally:
        await session.close()


async def end_after_failure(session: AsyncSession, exc: BaseException) -> None:
    """Roll back a unit of work that failed with `exc`. When the database cannot be reached, its connections are
    dropped instead: a ROLLBACK sent to a stalled server would wait on it a second time (on a connection that did
    not itself fail, say the one that read the signed-in account), and the server rolls back the transaction of a
    connection that goes away."""
    if is_unreachable(exc):
        await session.invalidate()
    else:
        await session.rollback()
