"""Engine, session factory and the declarative base.

MySQL/MariaDB connections always use utf8mb4, strict SQL mode and UTC, so an overlong value is an error and
never a silent truncation, emoji round-trip, and `DATETIME` columns hold UTC. SQLite enforces foreign keys.

`is_unreachable()` is the one definition of "the database does not answer", which the API reports as 503.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
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


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
    elif parsed.get_backend_name() in ("mysql", "mariadb"):
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        engine = create_engine(
            parsed,
            echo=echo,
            pool_pre_ping=True,
            pool_recycle=3600,
            connect_args={"init_command": f"SET SESSION sql_mode='{MYSQL_SQL_MODE}', time_zone='+00:00'"},
        )
    else:
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    event.listen(engine, "handle_error", _mark_failed_connect)
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


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit when the endpoint returns, roll back when it raises.

    Services only flush; this is the one place that commits. Used with `scope="function"` so the commit
    happens before the response is sent, and a failed commit is an error response, not a lost write.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
