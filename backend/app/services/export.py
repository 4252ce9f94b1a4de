"""CSV exports of the incident list and of the audit log, streamed from one consistent read.

Each export is one SELECT whose one column is the row's CSV line, made by the database (the people's names joined
in, the times ISO 8601 text, every text cell neutralised and quoted as RFC 4180 says: `csv_line()`), read in
batches through a server-side cursor on MySQL, and sent in chunks of about 64 KB. So the first bytes leave at once,
memory stays flat however many rows there are, and the driver parses one field a row instead of a dozen (the
pure-Python MySQL driver's parsing of fields was most of an export's CPU).

The read runs on a connection of its own, apart from the request's unit of work (which has ended by the time the
rows are sent): on MySQL inside `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` at REPEATABLE READ, on
SQLite in the read transaction its one statement holds. When the client goes away before the end, the connection is
dropped rather than returned: closing a MySQL server-side cursor early would read (and throw away) every row left,
while a closed socket ends the query on the server at its next write.
"""

from collections.abc import AsyncIterator, Sequence
from functools import reduce
from typing import Any, Literal

from sqlalchemy import ColumnElement, LargeBinary, Select, String, Text, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncResult, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import type_coerce

from app.models import EventAction, Incident, IncidentEvent, User
from app.services import audit
from app.services.audit import NEWEST_FIRST, Actor, _audit_filters
from app.services.incidents import list_order

ExportKind = Literal["incidents", "audit"]

# The rows leave when about this much is waiting; they are fetched from the database this many at a time.
CHUNK_CHARS = 64 * 1024
BATCH_ROWS = 1000
BOM = "\ufeff"
CRLF = "\r\n"
# A cell starting with one of these could run as a formula in a spreadsheet; it gets a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

INCIDENT_COLUMNS = (
    "id",
    "title",
    "service",
    "severity",
    "status",
    "description",
    "created_at",
    "updated_at",
    "mitigated_at",
    "resolved_at",
    "created_by",
    "updated_by",
    "commander",
)
ARCHIVED_COLUMNS = ("archived_at",)
AUDIT_COLUMNS = (
    "id",
    "created_at",
    "action",
    "incident_id",
    "actor_id",
    "actor",
    "changes",
    "note",
    "details",
    "request_id",
)


def _utc_text(column: Any) -> ColumnElement[str]:
    """A timestamp as ISO 8601 UTC text (`2026-12-01T12:00:00.123456Z`), made by the database: both store naive
    UTC with six fraction digits, so the text is the stored value with a `T` and a `Z`."""
    return func.replace(cast(column, String), " ", "T", type_=String).concat("Z")


def _plain(column: Any) -> ColumnElement[str]:
    """A column read as the text stored, without the ORM type's conversion (enum, JSON)."""
    return type_coerce(column, Text)


def text_cell(value: Any) -> ColumnElement[str]:
    """A cell of text as RFC 4180 writes it (quoted when it holds a quote, a comma, CR or LF; quotes doubled), and
    neutralised first when it starts like a formula (`'=1+1` for `=1+1`); empty for NULL. The checks compare
    bytes, so that no collation takes another character for `=` or `"`."""
    starts = [start.encode() for start in FORMULA_STARTS]
    text = type_coerce(value, String)
    neutral = case((cast(func.substr(text, 1, 1), LargeBinary).in_(starts), literal("'").concat(text)), else_=text)
    raw = cast(neutral, LargeBinary)
    needs_quotes = or_(*(func.instr(raw, special) > 0 for special in (b'"', b",", b"\n", b"\r")))
    quoted = literal('"').concat(func.replace(neutral, '"', '""', type_=String)).concat('"')
    return func.coalesce(case((needs_quotes, quoted), else_=neutral), "", type_=String)


def plain_cell(value: Any) -> ColumnElement[str]:
    """A cell that never needs quoting or neutralising (an id, an enum value, an ISO time); empty for NULL."""
    return func.coalesce(cast(value, String), "", type_=String)


def csv_line(cells: Sequence[ColumnElement[str]]) -> ColumnElement[str]:
    """The cells joined by commas: one CSV line, without its CRLF."""
    return reduce(lambda line, cell: line.concat(",").concat(cell), cells[1:], cells[0]).label("line")


def incident_query(params: Any, conditions: Sequence[ColumnElement[bool]]) -> Select:
    """The incident list's query (its conditions, and its order from services.incidents), as CSV lines of the
    export's columns."""
    creator, updater, commander = aliased(User), aliased(User), aliased(User)
    archived = [plain_cell(_utc_text(Incident.archived_at))] if params.archived else []
    cells = [
        plain_cell(Incident.id),
        text_cell(Incident.title),
        text_cell(Incident.service),
        plain_cell(_plain(Incident.severity)),
        plain_cell(_plain(Incident.status)),
        text_cell(Incident.description),
        plain_cell(_utc_text(Incident.created_at)),
        plain_cell(_utc_text(Incident.updated_at)),
        plain_cell(_utc_text(Incident.mitigated_at)),
        plain_cell(_utc_text(Incident.resolved_at)),
        text_cell(creator.display_name),
        text_cell(updater.display_name),
        text_cell(commander.display_name),
        *archived,
    ]
    return (
        select(csv_line(cells))
        .outerjoin(creator, Incident.created_by_id == creator.id)
        .outerjoin(updater, Incident.updated_by_id == updater.id)
        .outerjoin(commander, Incident.commander_id == commander.id)
        .where(*conditions)
        .order_by(*list_order(params).clauses())
    )


def incident_header(params: Any) -> tuple[str, ...]:
    return INCIDENT_COLUMNS + (ARCHIVED_COLUMNS if params.archived else ())


def audit_query(params: Any) -> Select:
    """The audit log's query (its filters and order, from services.audit), as CSV lines of the export's columns.
    The actor's name, the changes and details (JSON), the note and the request id (the client's) are text cells."""
    actor = aliased(User)
    cells = [
        plain_cell(IncidentEvent.id),
        plain_cell(_utc_text(IncidentEvent.created_at)),
        plain_cell(_plain(IncidentEvent.action)),
        plain_cell(IncidentEvent.incident_id),
        plain_cell(IncidentEvent.actor_id),
        text_cell(actor.display_name),
        text_cell(_plain(IncidentEvent.changes)),
        text_cell(IncidentEvent.note),
        text_cell(_plain(IncidentEvent.details)),
        text_cell(IncidentEvent.request_id),
    ]
    return (
        select(csv_line(cells))
        .select_from(IncidentEvent)
        .outerjoin(actor, IncidentEvent.actor_id == actor.id)
        .where(*_audit_filters(params))
        .order_by(*NEWEST_FIRST)
    )


class CsvExport:
    """One export on its way out: the query (of one column, the CSV line), the read once it has started, and the rows
    written so far.

    `chunks()` yields the encoded CSV: the header at once, then the rows as the database sends them. `close()` ends
    the read, completed or not, and must always be called."""

    def __init__(
        self,
        kind: ExportKind,
        engine: AsyncEngine,
        statement: Select,
        header: Sequence[str],
        *,
        bom: bool,
    ) -> None:
        self.kind = kind
        self.rows = 0
        self.completed = False
        self._engine = engine
        self._statement = statement
        self._header = header
        self._bom = bom
        self._connection: AsyncConnection | None = None
        self._result: AsyncResult | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        # RFC 4180: CRLF after every line, the last one included.
        yield ((BOM if self._bom else "") + ",".join(self._header) + CRLF).encode()  # before the database answers
        pending: list[str] = []
        size = 0
        batches = (await self._read()).scalars().partitions()
        try:
            async for batch in batches:
                pending.append(CRLF.join(batch) + CRLF)
                size += len(pending[-1])
                self.rows += len(batch)
                if size >= CHUNK_CHARS:
                    yield "".join(pending).encode()
                    pending, size = [], 0
        finally:  # a stream cut short: stop reading now, not when the garbage collector finds the reader
            await batches.aclose()
        self.completed = True
        if pending:
            yield "".join(pending).encode()

    async def _read(self) -> AsyncResult:
        """Open the export's own connection, begin its consistent read and send the query (a server-side cursor,
        read BATCH_ROWS at a time)."""
        self._connection = connection = await self._engine.connect()
        if connection.dialect.name in ("mysql", "mariadb"):
            await connection.execution_options(isolation_level="REPEATABLE READ")
            # Transaction control has no SQLAlchemy construct: a fixed statement, without values.
            await connection.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        self._result = await connection.stream(self._statement.execution_options(yield_per=BATCH_ROWS))
        return self._result

    async def close(self) -> None:
        """End the read. After the last row the connection goes back to the pool; before it (the client went
        away, or an error), it is dropped, which ends the query on the server without reading the rest."""
        connection, result = self._connection, self._result
        self._connection = self._result = None
        if connection is None:
            return
        if self.completed or connection.dialect.name == "sqlite":
            if result is not None:
                await result.close()  # a finished result has nothing left; SQLite's cursor stops at once
        else:
            _abandon_unread_rows(result)
            await connection.invalidate()
        await connection.close()


def _abandon_unread_rows(result: AsyncResult | None) -> None:
    """The MySQL driver reads what is left of an unbuffered result when its cursor is closed; the connection is
    being dropped instead, so tell the driver's result there is nothing left to read."""
    adapted = getattr(getattr(result, "_real_result", None), "cursor", None)  # SQLAlchemy's adapter of the cursor
    pending = getattr(getattr(adapted, "_cursor", None), "_result", None)  # aiomysql's SSCursor, its result
    if getattr(pending, "unbuffered_active", False):
        pending.unbuffered_active = False  # type: ignore[union-attr]


def incident_export(engine: AsyncEngine, params: Any, conditions: Sequence[ColumnElement[bool]]) -> CsvExport:
    """The export of the incident list as `params` (the list's sort, archived) and `conditions` (the list's
    filters and search, from services.incidents) select it."""
    statement, header = incident_query(params, conditions), incident_header(params)
    return CsvExport("incidents", engine, statement, header, bom=params.bom)


def audit_export(engine: AsyncEngine, params: Any) -> CsvExport:
    """The export of the audit log as `params` (its filters) select it, newest first."""
    return CsvExport("audit", engine, audit_query(params), AUDIT_COLUMNS, bom=params.bom)


def export_filters(params: Any) -> dict[str, Any]:
    """The export's query parameters as the audit event keeps them (the BOM is not a filter)."""
    return params.model_dump(mode="json", exclude={"bom"})


async def record_export(
    session: AsyncSession, actor: Actor, export: CsvExport, filters: dict[str, Any]
) -> IncidentEvent:
    """The audit event of an export: who, with which filters, how many rows, and whether it completed. It concerns
    no one incident, so it has none (and is in no incident's timeline)."""
    details = {"export": export.kind, "filters": filters, "rows": export.rows, "completed": export.completed}
    return await audit.record(session, None, actor, EventAction.EXPORTED, details=details)
