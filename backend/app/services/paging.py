"""The one way a list is read: the rows of one page, how many rows match, and where the next page starts.

A page is read in one of two ways, with the same order (a sort column, then the row's id in the same direction as
the tie-breaker, so the order is total):

- by `page` (OFFSET), as the original design's clients ask. The offset is walked over the index alone (a
  deferred join: the ids of the page in a derived table, from the index; then those rows by primary key);
- by `cursor` (keyset): the rows after the last row of the previous page, `col < :v OR (col = :v AND id < :id)`
  (the expanded form: MariaDB does not turn a row comparison into an index range), so a deep page costs what the
  first one costs. It too reads the ids first: with whole rows to fetch, MariaDB prefers a walk from the start
  of the index (`ref` on the leading column) to the cursor's range.

Either way the answer carries `next_cursor`, null on the last page. The cursor is opaque to clients: URL-safe
base64 of the sort key, its direction, the last row's sort value and id. It is checked strictly (`decode_cursor`).

A page is one statement (`page_statement`): the page's rows, in order, with the total beside them when the caller
has a cheap statement for it. Its rows are plain columns (`PageRows`), not ORM entities: at the request rates a list
serves, building entities cost more CPU than the rest of the read.

Statements are built by pure functions; the few lines that execute them are in `read_page` and `fetch_page`.
"""

import base64
import binascii
import enum
import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Subquery, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.interfaces import ORMOption

from app.database import Base
from app.schemas import PageParams

ModelT = TypeVar("ModelT", bound=Base)
ItemT = TypeVar("ItemT")

# A cursor is short (a key, a value of at most a few hundred characters, an id); anything longer is not one.
MAX_CURSOR_LENGTH = 1024


class InvalidCursor(ValueError):
    """The cursor is malformed, or was made for another order."""


@dataclass(frozen=True)
class Order:
    """A total order: `column` (named `key` in cursors) then `id`, both ascending or both descending. When the
    column is the id itself, the id alone orders."""

    key: str
    column: InstrumentedAttribute[Any]
    id: InstrumentedAttribute[Any]
    descending: bool

    @property
    def direction(self) -> str:
        return "desc" if self.descending else "asc"

    @property
    def by_id_only(self) -> bool:
        return self.column is self.id

    @property
    def nullable(self) -> bool:
        """Whether the sort column may be NULL (the commander): NULL sorts first ascending, last descending, on
        both databases."""
        return bool(getattr(self.column.expression, "nullable", False))

    def clauses(self) -> list[ColumnElement[Any]]:
        columns = [self.id] if self.by_id_only else [self.column, self.id]
        return [column.desc() if self.descending else column.asc() for column in columns]

    def after(self, value: Any, last_id: int, dialect: str = "mysql") -> ColumnElement[bool]:
        """The rows that come after (value, last_id) in this order, as the database's planner turns into an index
        range: on MySQL/MariaDB the expanded form `col < :v OR (col = :v AND id < :id)` (MariaDB makes no range
        of a row comparison); on SQLite the row comparison `(col, id) < (:v, :id)` (it makes no range of the OR,
        which for a column of few values such as the status rank means walking all rows of the cursor's value)."""
        if self.by_id_only:
            return self.id < last_id if self.descending else self.id > last_id
        if self.nullable:
            return self._after_nullable(value, last_id, dialect)
        return self._after_value(value, last_id, dialect)

    def _after_nullable(self, value: Any, last_id: int, dialect: str) -> ColumnElement[bool]:
        """`after` for a column that may be NULL, the smallest value: a comparison with NULL matches nothing, so
        the NULL rows are named. After a NULL: the NULL rows past the id, then (ascending) every non-NULL row.
        After a value: the rows past it, then (descending) the NULL rows."""
        null, past_id = self.column.is_(None), (self.id < last_id if self.descending else self.id > last_id)
        if value is None:
            return and_(null, past_id) if self.descending else or_(and_(null, past_id), self.column.is_not(None))
        after_value = self._after_value(value, last_id, dialect)
        return or_(after_value, null) if self.descending else after_value

    def _after_value(self, value: Any, last_id: int, dialect: str) -> ColumnElement[bool]:
        if dialect == "sqlite":
            pair, bound = tuple_(self.column, self.id), tuple_(literal(value, self.column.type), literal(last_id))
            return pair < bound if self.descending else pair > bound
        if self.descending:
            return or_(self.column < value, and_(self.column == value, self.id < last_id))
        return or_(self.column > value, and_(self.column == value, self.id > last_id))


@dataclass(frozen=True)
class PageRows(Generic[ItemT]):
    """What a list's page reads of each row, and what the row becomes: `statement(ids)` selects the columns of the
    rows whose id is in `ids` (the page's ids, a subquery with an `id` column), with what they need from other
    tables joined in; `item(row)` turns one row into the list's item."""

    statement: Callable[[Subquery], Select[Any]]
    item: Callable[[Row[Any]], ItemT]


@dataclass(frozen=True)
class PageResult(Generic[ItemT]):
    items: Sequence[ItemT]
    total: int
    total_exact: bool
    next_cursor: str | None


# --- cursors -------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def encode_cursor(order: Order, row: Any) -> str:
    value = None if order.by_id_only else _plain(getattr(row, order.column.key))
    payload = {"k": order.key, "o": order.direction, "v": value, "id": getattr(row, order.id.key)}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _typed(column: InstrumentedAttribute[Any], value: Any) -> Any:
    """The cursor's value as the column's Python type, or InvalidCursor."""
    column_type = column.type
    # A TypeDecorator (UTCDateTime) says its Python type through the type it decorates.
    python_type = getattr(column_type, "impl_instance", column_type).python_type
    if value is None and getattr(column.expression, "nullable", False):
        return None  # a page that ended on a row without a value (no commander)
    if issubclass(python_type, bool) or python_type is int:
        if type(value) is not int or not -(2**63) <= value < 2**63:
            raise InvalidCursor("the cursor's value is not an integer")
        return value
    if issubclass(python_type, enum.Enum):
        try:
            return python_type(value)
        except ValueError as exc:
            raise InvalidCursor("the cursor's value is not one of the column's values") from exc
    if python_type is datetime:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise InvalidCursor("the cursor's value is not a time with an offset")
        try:
            return moment.astimezone(UTC)  # as the column stores it; a time UTC cannot show is no cursor's
        except OverflowError as exc:
            raise InvalidCursor("the cursor's value is not a time the list holds") from exc
    if python_type is str:
        length = getattr(column.type, "length", None)
        if not isinstance(value, str) or (length is not None and len(value) > length):
            raise InvalidCursor("the cursor's value is not a text of the column")
        return value
    raise InvalidCursor("this order cannot be resumed from a cursor")


def decode_cursor(order: Order, cursor: str, dialect: str = "mysql") -> ColumnElement[bool]:
    """The condition "after the cursor" for `order`; InvalidCursor if the cursor is not one this order made."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise InvalidCursor("the cursor is not one this list handed out")
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("the cursor is not one this list handed out") from exc
    if not isinstance(payload, dict) or set(payload) != {"k", "o", "v", "id"}:
        raise InvalidCursor("the cursor is not one this list handed out")
    if (payload["k"], payload["o"]) != (order.key, order.direction):
        raise InvalidCursor(f"the cursor was made for another order, not {order.key} {order.direction}")
    last_id = payload["id"]
    if type(last_id) is not int or not 0 < last_id < 2**63:
        raise InvalidCursor("the cursor's id is not a row id")
    if order.by_id_only:
        if payload["v"] is not None:
            raise InvalidCursor("the cursor is not one this list handed out")
        return order.after(None, last_id, dialect)
    return order.after(_typed(order.column, payload["v"]), last_id, dialect)


# --- statements ----------------------------------------------------------------------------------------------


def ids_statement(
    conditions: Sequence[ColumnElement[bool]], order: Order, limit: int, offset: int = 0
) -> Select[tuple[int]]:
    """The ids of `limit` rows from `offset` (or after a cursor, as a condition) in `order`. Only the sort
    column and the id are read, which the index that serves the order holds: the planner walks that index alone
    (for a deep OFFSET too) and takes the range a cursor gives, instead of row lookups from the start."""
    return select(order.id).where(*conditions).order_by(*order.clauses()).limit(limit).offset(offset)


def page_statement(
    rows: PageRows[Any], order: Order, ids: Select[tuple[int]], total: Select[tuple[int]] | None = None
) -> Select[Any]:
    """The rows of a page in `order`, in one statement: the ids (`ids_statement`) in a derived table, which the
    database reads first, then those rows by primary key. With `total`, each row also carries it (`page_total`):
    the same round trip answers both."""
    statement = rows.statement(ids.subquery("page")).order_by(*order.clauses())
    if total is not None:
        statement = statement.add_columns(total.scalar_subquery().label("page_total"))
    return statement


def count_statement(
    model: type[ModelT], conditions: Sequence[ColumnElement[bool]], bound: int | None = None
) -> Select[tuple[int]]:
    """How many rows match; with `bound`, at most bound + 1 of them are counted (reaching it means "at least")."""
    if bound is None:
        return select(func.count()).select_from(model).where(*conditions)
    matches = select(literal(1).label("one")).select_from(model).where(*conditions).limit(bound + 1).subquery()
    return select(func.count()).select_from(matches)


# --- reading -------------------------------------------------------------------------------------------------

# The statements of pages read without a cursor, by what they are built from (`read_page(shape=...)`), so that the
# list's common pages (the first pages of the default order and of each filter) are not built again for every request:
# building one, and its cache key, costs a list request more CPU than the rest of its Python work but the driver's.
# A statement is immutable, and holds its values, so one serves every request of the same shape. Bounded: the least
# recently used goes first.
PAGE_STATEMENT_CACHE_SIZE = 512
_page_statements: OrderedDict[Hashable, Select[Any]] = OrderedDict()


def _cached_statement(key: Hashable, build: Callable[[], Select[Any]]) -> Select[Any]:
    statement = _page_statements.get(key)
    if statement is None:
        statement = _page_statements[key] = build()
        if len(_page_statements) > PAGE_STATEMENT_CACHE_SIZE:
            _page_statements.popitem(last=False)
    else:
        _page_statements.move_to_end(key)
    return statement


async def read_page(
    session: AsyncSession,
    model: type[ModelT],
    rows: PageRows[ItemT],
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    params: PageParams,
    *,
    cursor: str | None = None,
    total: Select[tuple[int]] | None = None,
    count: Select[tuple[int]] | None = None,
    count_bound: int | None = None,
    shape: Hashable | None = None,
) -> PageResult[ItemT]:
    """One page of `model`, read as `rows` says: by `cursor` if given (checked: InvalidCursor), else by
    `params.page`. `shape`, when given, names everything `conditions`, `order` and `total` are made of (their
    values included): a page read by `page` then reuses the statement of an earlier request of the same shape,
    page and limit.

    The total is `total` when the caller has a cheaper exact statement for it (a sum of maintained counts), read in
    the page's own statement; else `count` when the caller has a cheaper bounded count, else a COUNT(*) of the
    matches; with `count_bound` either stops after bound + 1 rows: a total of `count_bound` that is then only a
    lower bound (`total_exact` false)."""
    dialect = session.get_bind().dialect.name
    where = [*conditions, decode_cursor(order, cursor, dialect)] if cursor else list(conditions)
    offset = 0 if cursor else (params.page - 1) * params.limit

    def build() -> Select[Any]:
        return page_statement(rows, order, ids_statement(where, order, params.limit + 1, offset), total)

    statement = build() if shape is None or cursor else _cached_statement((rows, shape, offset, params.limit), build)
    found = (await session.execute(statement)).all()
    page = found[: params.limit]
    if total is not None and found:
        counted = int(found[0].page_total or 0)
    else:  # no row to carry the total (past the last page, no match), or a search: counted on its own
        counting = (
            total
            if total is not None
            else count
            if count is not None
            else count_statement(model, conditions, count_bound)
        )
        counted = int(await session.scalar(counting) or 0)
    exact = total is not None or count_bound is None or counted <= count_bound
    next_cursor = encode_cursor(order, page[-1]) if len(found) > params.limit else None
    items = [rows.item(row) for row in page]
    return PageResult(items, counted if exact else count_bound, exact, next_cursor)  # type: ignore[arg-type]


async def fetch_page(
    session: AsyncSession,
    model: type[ModelT],
    conditions: Sequence[ColumnElement[bool]],
    ordering: Sequence[ColumnElement],
    params: PageParams,
    *,
    options: Sequence[ORMOption] = (),
) -> tuple[Sequence[ModelT], int]:
    """Rows of `model` matching every condition, in `ordering`, for the requested page; and their exact total.
    For lists that are read by page only (the audit log, a timeline, the accounts). `options` say how
    related rows load (they never load implicitly)."""
    total = await session.scalar(count_statement(model, conditions)) or 0
    page = (
        select(model)
        .where(*conditions)
        .order_by(*ordering)
        .limit(params.limit)
        .offset((params.page - 1) * params.limit)
        .options(*options)
    )
    items = (await session.scalars(page)).unique().all()
    return items, total
