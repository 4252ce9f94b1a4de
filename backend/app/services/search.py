"""Substring search over incident titles and services, served by a trigram index kept in the same transaction.

The meaning, the same on every database: an incident matches a term when the folded term is a substring of its
folded title or its folded service. Folding (`fold()`) is Unicode case folding between NFC normalisations:
case is ignored ("É" finds "é", "STRASSE" finds "Straße", "Σ" finds a final "ς"), accents and every other
character are kept ("e" does not find "é"), and `%`, `_` and `\\` are ordinary characters.

How it is served (tables in app/models.py, "The search index"): every distinct title or service value is stored
once with its folded form and that form's trigrams. A search first finds the values whose folded form contains
the term (the trigrams narrow them down, a byte-wise `instr` decides), then the incidents that hold them:
- no value contains the term: the condition is false, and the list reads no incident;
- a few incidents hold one (up to SPARSE_LIMIT, found through the indexes on title and service): the condition
  is "the id is one of theirs", a subquery the database materialises once, then reads by primary key;
- many do: the condition is a byte-wise comparison of the row's title and service with the values, which the
  list's own index walk (newest first, or any sort) meets within a few rows per match;
  their total is counted through the title and service indexes (`matches_count_query`: each side reads at most
  the list's count bound of entries), so a common term's total costs the same at any number of incidents;
- most values contain the term (a one-letter term): the condition names the few values that do not.
Terms of one or two characters have no trigram of their own: folded texts end in two NUL characters, so every
such substring starts a trigram, and a range scan over the trigrams that start with it finds its values.

Incidents written through the ORM keep the index right by themselves (mapper events, inside the same flush, so
in the same transaction); after a bulk load through Core, call `rebuild_search_index(connection)`.
"""

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    and_,
    case,
    cast,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from app.models import Incident, SearchText, SearchTrigram

# A search that at most this many incidents match is handed to the list as their ids.
SPARSE_LIMIT = 5_000
# A term with more distinct trigrams is narrowed down by this many of them, spread over it (instr decides).
MAX_TRIGRAMS = 8
# Values of a term collected into a list. Past that (a short term over a large dictionary) the values that do
# not contain the term are listed instead, up to MAX_OTHERS; past both, the values stay a subquery (slow on
# MariaDB, which runs it for each row: a dictionary of over 2,000 distinct values and a term in about half).
MAX_VALUES = 1_000
MAX_OTHERS = 1_000
REBUILD_CHUNK = 2_000
# Two of them end every folded text in the trigram table, so that every substring of 1-2 characters starts one.
END = "\x00"


def fold(text: str) -> str:
    """The form in which titles, services and terms are compared."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def value_id(value: bytes) -> int:
    """The id of a stored value: 63 bits of its BLAKE2b hash, the same in every process."""
    return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "big") >> 1


def trigrams(folded: str) -> set[bytes]:
    """The trigrams the index keeps for a folded text: one starting at each of its characters."""
    padded = folded + END * 2
    return {padded[i : i + 3].encode() for i in range(len(folded))}


def _term_trigrams(folded: str) -> list[bytes]:
    grams = sorted({folded[i : i + 3].encode() for i in range(len(folded) - 2)})
    if len(grams) <= MAX_TRIGRAMS:
        return grams
    step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
    return [grams[round(i * step)] for i in range(MAX_TRIGRAMS)]


# --- Reading ------------------------------------------------------------------------------------------------


def matching_values_query(folded: str):
    """The stored values whose folded form contains the folded term."""
    needle = folded.encode()
    query = select(SearchText.value).where(func.instr(SearchText.folded, needle) > 0)
    if len(folded) >= 3:
        for gram in _term_trigrams(folded):
            query = query.where(SearchText.id.in_(select(SearchTrigram.text_id).where(SearchTrigram.trigram == gram)))
    else:
        # The trigrams that start with the term: [needle, needle with its last byte raised). UTF-8 never holds
        # 0xFF, so the last byte can always be raised.
        upper = needle[:-1] + bytes([needle[-1] + 1])
        starting = select(SearchTrigram.text_id).where(SearchTrigram.trigram >= needle, SearchTrigram.trigram < upper)
        query = query.where(SearchText.id.in_(starting))
    return query


def _holds(column, values) -> ColumnElement[bool]:
    """The column holds one of the values, byte for byte (MySQL's `=` would also ignore case and accents)."""
    return cast(column, LargeBinary).in_(values)


def _holders(values: Sequence[bytes], column):
    """The incidents whose `column` holds one of the values, through the column's index."""
    return select(Incident.id).where(column.in_([value.decode() for value in values]), _holds(column, values))


def holders_count_query(values: Sequence[bytes], limit: int):
    """How many incidents hold one of the values in their title, and in their service, each counted up to
    `limit`: reads at most `limit` entries of each index."""
    return select(
        *(
            select(func.count()).select_from(_holders(values, column).limit(limit).subquery()).scalar_subquery()
            for column in (Incident.title, Incident.service)
        )
    )


def holders_query(values: Sequence[bytes]):
    return union(*(_holders(values, column) for column in (Incident.title, Incident.service)))


@dataclass(frozen=True)
class SearchPlan:
    """How a search is served: the condition for the list query to AND with the rest; whether nothing can match, or
    at most SPARSE_LIMIT incidents (the condition picks them by id: an exact count of them is cheap); and, when many
    incidents hold a few matching values, those values, so that the matches are counted through the title and
    service indexes (`matches_count_query`) rather than by walking the rows."""

    condition: ColumnElement[bool]
    values: Sequence[bytes] | None = None
    few: bool = False
    nothing: bool = False


async def search_plan(session: AsyncSession, term: str) -> SearchPlan:
    """The plan for "the title or the service contains `term`".

    Reads the index first (two or three small statements) to choose the condition's form; see the module's doc.
    """
    folded = fold(term)
    if not folded:
        return SearchPlan(false(), few=True, nothing=True)
    values = (await session.scalars(matching_values_query(folded).limit(MAX_VALUES + 1))).all()
    if not values:
        return SearchPlan(false(), few=True, nothing=True)
    if len(values) > MAX_VALUES:
        # Most values contain the term (a short one): name those that do not, if they are few. Every title and
        # service is a stored value, so the incident matches unless both its title and service are among them.
        needle = folded.encode()
        others = select(SearchText.value).where(func.instr(SearchText.folded, needle) == 0).limit(MAX_OTHERS + 1)
        rest = (await session.scalars(others)).all()
        if len(rest) <= MAX_OTHERS:
            return SearchPlan(~and_(_holds(Incident.title, rest), _holds(Incident.service, rest)) if rest else true())
        values = matching_values_query(folded)
        return SearchPlan(or_(_holds(Incident.title, values), _holds(Incident.service, values)))
    holders = sum((await session.execute(holders_count_query(values, SPARSE_LIMIT + 1))).one())
    if holders == 0:  # values kept in the index whose incidents have since changed
        return SearchPlan(false(), few=True, nothing=True)
    if holders <= SPARSE_LIMIT:
        # A subquery of a derived table, not a list of ids read first: MariaDB materialises it once (a semi-join;
        # a bare UNION in IN would be run again for every row the list walks), and so does SQLite.
        found = holders_query(values).subquery()
        return SearchPlan(Incident.id.in_(select(found.c.id)), few=True)
    return SearchPlan(or_(_holds(Incident.title, values), _holds(Incident.service, values)), values)


async def search_condition(session: AsyncSession, term: str) -> ColumnElement[bool]:
    """The condition "the title or the service contains `term`", for a query to AND with the rest."""
    return (await search_plan(session, term)).condition


def matches_count_query(values: Sequence[bytes], conditions: Sequence[ColumnElement[bool]], bound: int):
    """How many incidents that meet `conditions` hold one of the values in their title or their service, counted
    up to bound + 1 (reaching it means "at least"), through the title and the service indexes: each side reads at
    most bound + 1 entries; when one side alone passes the bound, that is the answer, else the two sides' union
    (an incident found on both counts once)."""
    sides = [
        _holders(values, column).where(*conditions).limit(bound + 1).subquery()
        for column in (Incident.title, Incident.service)
    ]
    title, service = (select(func.count()).select_from(side).scalar_subquery() for side in sides)
    both = select(func.count()).select_from(union(*(select(side.c.id) for side in sides)).subquery())
    return select(case((title > bound, title), (service > bound, service), else_=both.scalar_subquery()))


# --- Writing ------------------------------------------------------------------------------------------------


def _insert_ignoring_duplicates(table):
    statement = insert(table).prefix_with("OR IGNORE", dialect="sqlite")
    return statement.prefix_with("IGNORE", dialect="mysql").prefix_with("IGNORE", dialect="mariadb")


def add_values(connection: Connection, values: Iterable[str]) -> None:
    """Store the values that the index does not hold yet, with their trigrams, in id order (so concurrent
    writers of the same new values take their locks in the same order, and the second one skips them)."""
    wanted = {value_id(raw): raw for raw in (value.encode() for value in values)}
    known = connection.scalars(select(SearchText.id).where(SearchText.id.in_(list(wanted)))).all()
    missing = sorted(set(wanted) - set(known))
    if not missing:
        return
    folded = {i: fold(wanted[i].decode()) for i in missing}
    texts = [{"id": i, "value": wanted[i], "folded": folded[i].encode()} for i in missing]
    grams = [
        {"trigram": gram, "text_id": i} for gram, i in sorted((g, i) for i in missing for g in trigrams(folded[i]))
    ]
    connection.execute(_insert_ignoring_duplicates(SearchText), texts)
    connection.execute(_insert_ignoring_duplicates(SearchTrigram), grams)


@event.listens_for(Incident, "after_insert")
def _after_insert(_mapper: Mapper, connection: Connection, incident: Incident) -> None:
    add_values(connection, (incident.title, incident.service))


@event.listens_for(Incident, "after_update")
def _after_update(_mapper: Mapper, connection: Connection, incident: Incident) -> None:
    attrs = inspect(incident).attrs
    if attrs.title.history.has_changes() or attrs.service.history.has_changes():
        add_values(connection, (incident.title, incident.service))


def _distinct_values_query(column):
    """Each value of the column once, byte for byte, read from its index. MySQL groups by its collation (which
    folds "Café" and "CAFE" together): a group whose smallest and largest bytes differ is read again, whole."""
    as_bytes = cast(column, LargeBinary)
    return select(func.min(as_bytes), func.max(as_bytes)).group_by(column)


def rebuild_search_index(connection: Connection) -> None:
    """Rebuild the index from the incidents table: for a bulk load that went around the ORM (seed.py). Runs in
    the caller's transaction; reads each distinct title and service once (through their indexes), so its time
    and memory grow with the number of distinct values more than with the number of incidents."""
    connection.execute(delete(SearchTrigram))
    connection.execute(delete(SearchText))
    values: set[bytes] = set()
    for column in (Incident.title, Incident.service):
        for smallest, largest in connection.execute(_distinct_values_query(column)):
            values.add(smallest)
            if largest != smallest:
                same_group = select(cast(column, LargeBinary)).where(column == smallest.decode()).distinct()
                values.update(connection.scalars(same_group))
    ordered = sorted(value.decode() for value in values)
    for start in range(0, len(ordered), REBUILD_CHUNK):
        add_values(connection, ordered[start : start + REBUILD_CHUNK])
