"""Substring search over incident titles and services, served by a trigram index kept in the same transaction.

The meaning, the same on every database: an incident matches a term when the folded term is a substring of its
folded title or its folded service. Folding is Unicode case folding between two NFC normalisations
(`fold()`): case is ignored ("É" finds "é", "STRASSE" finds "Straße", a final "ς" finds "σ"), accents and
every other character are kept ("e" does not find "é"), and `%`, `_` and `\\` are ordinary characters.

How it is served (tables in app/models.py, "The search index"): each distinct folded text is stored once with
its trigrams, and each incident points at its two texts. A search first finds the texts that contain the term
(the trigrams narrow them down, an exact byte-wise `instr` decides), then the incidents that point at them:
- no text contains the term: the condition is false, and the list reads nothing;
- a few incidents match (up to SPARSE_LIMIT): the condition is their ids, read straight from the primary key;
- many incidents match: the condition is a semi-join on the index, which the list's own index walk meets quickly.
Terms of one or two characters have no trigram of their own: texts end in two NUL characters, so every such
substring starts some trigram, and a range scan over the trigrams that start with it finds its texts.

Incidents written through the ORM keep the index right by themselves (mapper events, inside the same flush and
so the same transaction); after a bulk load through Core, call `rebuild_search_index(connection)`.
"""

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    LargeBinary,
    MetaData,
    Table,
    cast,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    union,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapper, Session

from app.models import Incident, IncidentSearch, SearchText, SearchTrigram

# A search matching at most this many incidents is handed to the list as a list of ids.
SPARSE_LIMIT = 2_000
# A term with more trigrams is narrowed down by this many of them (spread over the term); instr decides anyway.
MAX_TRIGRAMS = 8
# Texts of a term collected as a list of ids; past that the texts stay a subquery (a one-letter term over a
# very large dictionary).
MAX_TEXTS = 1_000
REBUILD_CHUNK = 5_000
# Two of them end every text in the trigram table, so that every substring of 1-2 characters starts a trigram.
END = "\x00"


def fold(text: str) -> str:
    """The form in which titles, services and terms are compared."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def text_id(folded: str) -> int:
    """The id of a folded text: 63 bits of its BLAKE2b hash, the same in every process."""
    return int.from_bytes(hashlib.blake2b(folded.encode(), digest_size=8).digest(), "big") >> 1


def trigrams(folded: str) -> set[bytes]:
    """The trigrams the index keeps for a text: one starting at each of its characters."""
    padded = folded + END * 2
    return {padded[i : i + 3].encode() for i in range(len(folded))}


def _term_trigrams(folded: str) -> list[bytes]:
    grams = sorted({folded[i : i + 3].encode() for i in range(len(folded) - 2)})
    if len(grams) <= MAX_TRIGRAMS:
        return grams
    step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
    return [grams[round(i * step)] for i in range(MAX_TRIGRAMS)]


# --- Reading ------------------------------------------------------------------------------------------------


def matching_texts_query(term: str):
    """The ids of the texts that contain the (folded) term."""
    needle = term.encode()
    query = select(SearchText.id).where(func.instr(SearchText.text, needle) > 0)
    if len(term) >= 3:
        for gram in _term_trigrams(term):
            query = query.where(SearchText.id.in_(select(SearchTrigram.text_id).where(SearchTrigram.trigram == gram)))
    else:
        # The trigrams that start with the term: [needle, needle with its last byte raised). UTF-8 never
        # holds 0xFF, so the last byte can always be raised.
        upper = needle[:-1] + bytes([needle[-1] + 1])
        starting = select(SearchTrigram.text_id).where(SearchTrigram.trigram >= needle, SearchTrigram.trigram < upper)
        query = query.where(SearchText.id.in_(starting))
    return query


def _incidents_of(texts) -> ColumnElement[bool]:
    return Incident.id.in_(
        select(IncidentSearch.incident_id).where(
            or_(IncidentSearch.title_text_id.in_(texts), IncidentSearch.service_text_id.in_(texts))
        )
    )


def sparse_incidents_query(texts: Sequence[int], limit: int = SPARSE_LIMIT + 1):
    """At most `limit` ids of incidents per column whose title or service is one of `texts`."""
    by_title = select(IncidentSearch.incident_id).where(IncidentSearch.title_text_id.in_(texts)).limit(limit)
    by_service = select(IncidentSearch.incident_id).where(IncidentSearch.service_text_id.in_(texts)).limit(limit)
    title_ids, service_ids = by_title.subquery(), by_service.subquery()
    return union(select(title_ids.c.incident_id), select(service_ids.c.incident_id))


def search_condition(session: Session, term: str) -> ColumnElement[bool]:
    """The condition "title or service contains `term`", for the list query to AND with the rest.

    Runs one or two small statements on the index to choose the condition's form (see the module's doc)."""
    folded = fold(term)
    if not folded:
        return false()
    texts = session.scalars(matching_texts_query(folded).limit(MAX_TEXTS + 1)).all()
    if not texts:
        return false()
    if len(texts) > MAX_TEXTS:
        return _incidents_of(matching_texts_query(folded))
    ids = session.scalars(sparse_incidents_query(texts)).all()
    if len(ids) <= SPARSE_LIMIT:
        return Incident.id.in_(sorted(ids)) if ids else false()
    return _incidents_of(texts)


# --- Writing ------------------------------------------------------------------------------------------------


def _insert_ignoring_duplicates(table):
    return insert(table).prefix_with("IGNORE", dialect=("mysql", "mariadb")).prefix_with("OR IGNORE", dialect="sqlite")


def _ensure_texts(connection: Connection, folded_texts: Iterable[str]) -> None:
    """Store the texts that the index does not hold yet, with their trigrams (in id order, so that concurrent
    writers take their locks in the same order)."""
    wanted = {text_id(folded): folded for folded in folded_texts}
    known = connection.scalars(select(SearchText.id).where(SearchText.id.in_(list(wanted)))).all()
    missing = sorted(set(wanted) - set(known))
    if not missing:
        return
    connection.execute(
        _insert_ignoring_duplicates(SearchText), [{"id": i, "text": wanted[i].encode()} for i in missing]
    )
    grams = sorted((gram, i) for i in missing for gram in trigrams(wanted[i]))
    connection.execute(
        _insert_ignoring_duplicates(SearchTrigram), [{"trigram": gram, "text_id": i} for gram, i in grams]
    )


def index_incident(connection: Connection, incident_id: int, title: str, service: str, *, new: bool) -> None:
    """Point the incident at the texts of its title and service (stored first if they are new)."""
    title_folded, service_folded = fold(title), fold(service)
    _ensure_texts(connection, (title_folded, service_folded))
    values = {"title_text_id": text_id(title_folded), "service_text_id": text_id(service_folded)}
    table = IncidentSearch.__table__
    if new:
        connection.execute(insert(table).values(incident_id=incident_id, **values))
    else:
        connection.execute(table.update().where(table.c.incident_id == incident_id).values(**values))


@event.listens_for(Incident, "after_insert")
def _after_insert(_mapper: Mapper, connection: Connection, incident: Incident) -> None:
    index_incident(connection, incident.id, incident.title, incident.service, new=True)


@event.listens_for(Incident, "after_update")
def _after_update(_mapper: Mapper, connection: Connection, incident: Incident) -> None:
    attrs = inspect(incident).attrs
    if attrs.title.history.has_changes() or attrs.service.history.has_changes():
        index_incident(connection, incident.id, incident.title, incident.service, new=False)


def _raw_values_query(column):
    # Byte-wise distinct: MySQL's DISTINCT would fold "Café" and "cafe" together under its collation.
    return select(cast(column, LargeBinary)).distinct()


def rebuild_search_index(connection: Connection) -> None:
    """Rebuild the whole index from the incidents table, set-based: for a bulk load that went around the ORM
    (seed.py). Runs in the caller's transaction. Memory grows with the number of distinct titles and services,
    not with the number of incidents."""
    for table in (IncidentSearch.__table__, SearchTrigram.__table__, SearchText.__table__):
        connection.execute(delete(table))
    # raw value (bytes) -> id of its folded text, in a temporary table the final INSERT ... SELECT joins twice
    raw_map = Table(
        "search_rebuild_map",
        MetaData(),
        Column("raw", LargeBinary().with_variant(mysql.VARBINARY(800), "mysql", "mariadb"), primary_key=True),
        Column("text_id", BigInteger, nullable=False),
        prefixes=["TEMPORARY"],
    )
    raw_map.create(connection)
    try:
        raws = {
            raw
            for column in (Incident.title, Incident.service)
            for raw in connection.scalars(_raw_values_query(column))
        }
        rows = [(raw, fold(raw.decode())) for raw in raws]
        for start in range(0, len(rows), REBUILD_CHUNK):
            chunk = rows[start : start + REBUILD_CHUNK]
            connection.execute(insert(raw_map), [{"raw": raw, "text_id": text_id(folded)} for raw, folded in chunk])
            _ensure_texts(connection, {folded for _raw, folded in chunk})
        title_map, service_map = raw_map.alias("title_map"), raw_map.alias("service_map")
        pairs = (
            select(Incident.id, title_map.c.text_id, service_map.c.text_id)
            .join(title_map, title_map.c.raw == cast(Incident.title, LargeBinary))
            .join(service_map, service_map.c.raw == cast(Incident.service, LargeBinary))
        )
        columns = ("incident_id", "title_text_id", "service_text_id")
        connection.execute(insert(IncidentSearch).from_select(columns, pairs))
    finally:
        raw_map.drop(connection)
