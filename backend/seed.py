"""Seed the database with realistic incidents and the audit events of their history.

python seed.py                 # 200 incidents, only into an empty database
python seed.py --count 100000  # bulk: written in chunks, one transaction each
python seed.py --force         # add even when incidents already exist
"""

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.engine import make_url

from app.config import get_settings
from app.database import Base, create_db_engine, utcnow
from app.models import EventAction, Incident, IncidentEvent, Role, Severity, Status, User
from app.services import incidents as incident_service
from app.services.metrics import rebuild as rebuild_metrics
from app.services.search import rebuild_search_index

CHUNK_SIZE = 20_000  # incidents per transaction, with their ~2.6 events each

SERVICES = [
    "payments-api",
    "checkout-web",
    "auth-service",
    "search-indexer",
    "notifications",
    "inventory-db",
    "orders-api",
    "cdn-edge",
    "billing-worker",
    "mobile-gateway",
    "recommendations",
    "image-resizer",
    "kafka-cluster",
    "user-profile",
    "shipping-rates",
]
SYMPTOMS = [
    "Elevated 5xx error rate",
    "p99 latency above SLO",
    "Timeouts talking to the database",
    "Memory leak after deploy",
    "Certificate expiring in 48 hours",
    "Queue backlog growing",
    "Partial outage in eu-west-1",
    "Disk usage at 95%",
    "Stale cache served to users",
    "Spike in failed logins",
    "Replica lag over 5 minutes",
    "Health checks flapping",
    "Third-party API rate limiting us",
    "Cron job did not run",
    "Pods crash-looping",
]
CAUSES = [
    "Started right after the 14:05 deploy; rollback is being evaluated.",
    "Correlates with a traffic spike from a marketing campaign.",
    "A config change to connection pool sizes is the main suspect.",
    "Upstream provider acknowledged degraded performance on their status page.",
    "Alert fired from the synthetic checks; customers reported it on support too.",
    None,
]
SEVERITY_WEIGHTS = {Severity.SEV1: 1, Severity.SEV2: 3, Severity.SEV3: 5, Severity.SEV4: 4}

# The columns the seed writes, in the order of the tuples it builds; the others stay NULL.
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
    "created_by_id",
    "updated_by_id",
    "archived",
    "status_rank",
)
# The list's sort key for a status (its lifecycle order), which the app keeps beside the status.
STATUS_RANK = {status.value: status.rank for status in Status}
Chunk = tuple[list[tuple], list[tuple]]  # the rows of some incidents, and of their events
T = TypeVar("T")
EVENT_COLUMNS = ("id", "incident_id", "actor_id", "action", "changes", "created_at")

SECOND = 1_000_000  # times are integers of microseconds since the epoch until they are written out
DAY = 86_400 * SECOND
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# The values as the tables hold them, for the loop below (an enum's .value costs more than a local name).
OPEN, MITIGATED, RESOLVED = Status.OPEN.value, Status.MITIGATED.value, Status.RESOLVED.value
CREATED, UPDATED = EventAction.CREATED.value, EventAction.UPDATED.value


def created_changes(title: str, service: str, severity: str, description: str | None) -> dict[str, Any]:
    """The `changes` of a seeded incident's "created" event: its initial values, as changes from null."""
    return {
        "title": {"old": None, "new": title},
        "service": {"old": None, "new": service},
        "severity": {"old": None, "new": severity},
        "description": {"old": None, "new": description},
        "status": {"old": None, "new": OPEN},
    }


def status_changes(old: str, new: str, at: str) -> dict[str, Any]:
    """The `changes` of an "updated" event that moves a seeded incident on, with the lifecycle stamp it set."""
    return {"status": {"old": old, "new": new}, f"{new.lower()}_at": {"old": None, "new": at}}


class Rows:
    """Builds the rows of seeded incidents and of their history as tuples in the column order above, with the
    values the app stores: times as naive UTC text with microseconds, enums as their values, `changes` as the
    text of the app's JSON column (`json.dumps`), no value as None.

    Each incident's lifecycle is consistent with its status and never in the future: created up to 90 days
    ago; the older, the likelier it is resolved; mitigated some time after it was created, resolved some time
    after that. Its history is a "created" event, then one "updated" event for each status it went through.
    Texts and `changes` come from small sets, so each is built once; a time's date and hour are too."""

    def __init__(self, rng: random.Random, now: datetime, people: Sequence[int | None]) -> None:
        self.random = rng.random
        self.now = (now - EPOCH) // timedelta(microseconds=1)
        self.people = list(people)
        self.severities = [severity.value for severity, weight in SEVERITY_WEIGHTS.items() for _ in range(weight)]
        self.titles = [[f"{symptom} on {service}" for service in SERVICES] for symptom in SYMPTOMS]
        self.openings: dict[tuple[int, int, str, int], str] = {}
        # An "updated" event's changes, split around its time: (head, tail).
        self.to_mitigated = json.dumps(status_changes(OPEN, MITIGATED, "@")).split('"@"')
        self.to_resolved = json.dumps(status_changes(MITIGATED, RESOLVED, "@")).split('"@"')
        self.hours: dict[int, str] = {}

    def stamp(self, at: int) -> str:
        """`at` (microseconds since the epoch) as the app stores a time: naive UTC, "2026-11-27 03:11:10.120398"."""
        hour, micros = divmod(at, 3600 * SECOND)
        prefix = self.hours.get(hour)
        if prefix is None:
            prefix = self.hours[hour] = f"{EPOCH + timedelta(hours=hour):%Y-%m-%d %H:}"
        seconds, micros = divmod(micros, SECOND)
        minute, second = divmod(seconds, 60)
        return f"{prefix}{minute:02d}:{second:02d}.{micros:06d}"

    @staticmethod
    def iso(stamp: str) -> str:
        """A stored time as the app writes one into `changes`: `isoformat()` of the aware UTC datetime."""
        return f"{stamp[:10]}T{stamp[11:19] if stamp.endswith('.000000') else stamp[11:]}+00:00"

    def opening(self, symptom: int, service: int, severity: str, cause: int) -> str:
        """The `changes` text of the "created" event of an incident with these choices."""
        key = (symptom, service, severity, cause)
        changes = self.openings.get(key)
        if changes is None:
            title, description = self.titles[symptom][service], CAUSES[cause]
            changes = self.openings[key] = json.dumps(created_changes(title, SERVICES[service], severity, description))
        return changes

    def chunk(self, first_id: int, first_event_id: int, count: int, place: tuple[int, int] | None = None) -> Chunk:
        """`count` incidents with ids from `first_id`, and their events with ids from `first_event_id`.

        `place` (how many come before this chunk, how many in all) spreads the creation times over the 90 days in
        id order, as the app makes them: a later id is a later incident (the list's "oldest first" is by id)."""
        before, total = place or (0, count)
        rnd, now, people, severities, titles = self.random, self.now, self.people, self.severities, self.titles
        (mitigated_head, mitigated_tail), (resolved_head, resolved_tail) = self.to_mitigated, self.to_resolved
        incidents: list[tuple] = []
        events: list[tuple] = []
        event_id = first_event_id
        for index, incident_id in enumerate(range(first_id, first_id + count), start=before):
            created = now - (60 + int((total - index - rnd()) / total * (90 * 86_400 - 59))) * SECOND
            age = now - created
            # Older incidents are more likely to be over; the others are open or mitigated alike.
            status = RESOLVED if rnd() < min(0.9, age / (30 * DAY)) else OPEN if rnd() < 0.5 else MITIGATED
            symptom, service, cause = int(rnd() * len(SYMPTOMS)), int(rnd() * len(SERVICES)), int(rnd() * len(CAUSES))
            severity = severities[int(rnd() * len(severities))]
            created_by, updated_by = people[int(rnd() * len(people))], people[int(rnd() * len(people))]
            created_at = updated_at = self.stamp(created)
            mitigated_at = resolved_at = None
            opening = self.opening(symptom, service, severity, cause)
            events.append((event_id, incident_id, created_by, CREATED, opening, created_at))
            event_id += 1
            if status != OPEN:
                mitigated = created + round(age * (0.01 + 0.39 * rnd()))
                mitigated_at = updated_at = self.stamp(mitigated)
                changes = f'{mitigated_head}"{self.iso(mitigated_at)}"{mitigated_tail}'
                events.append((event_id, incident_id, updated_by, UPDATED, changes, mitigated_at))
                event_id += 1
            if status == RESOLVED:
                resolved_at = updated_at = self.stamp(mitigated + round((now - mitigated) * (0.05 + 0.55 * rnd())))
                changes = f'{resolved_head}"{self.iso(resolved_at)}"{resolved_tail}'
                events.append((event_id, incident_id, updated_by, UPDATED, changes, resolved_at))
                event_id += 1
            incidents.append(
                (incident_id, titles[symptom][service], SERVICES[service], severity, status, CAUSES[cause],
                 created_at, updated_at, mitigated_at, resolved_at, created_by, updated_by, 0, STATUS_RANK[status])
            )  # fmt: skip
        return incidents, events

    def chunks(self, first_id: int, first_event_id: int, count: int, size: int) -> Iterator[Chunk]:
        """`count` incidents and their events from these ids on, in chunks of `size` incidents."""
        for start in range(0, count, size):
            incidents, events = self.chunk(first_id + start, first_event_id, min(size, count - start), (start, count))
            first_event_id = events[-1][0] + 1
            yield incidents, events


# Writing the rows. Each database gets its plain fast path: SQLite takes the tuples as they are (executemany);
# MySQL/MariaDB reads a file of them (LOAD DATA LOCAL INFILE) where the server allows it, so no value goes through
# the driver's escaping in Python. The file separates fields and rows by the ASCII unit and record separators,
# which no seeded value holds, so it needs no escaping either: the separators are counted to prove it.
FIELD, RECORD = "\x1f", "\x1e"


def seed_engine(url: str) -> Engine:
    """An engine of the seed's own: MySQL connections may send files (LOAD DATA LOCAL), and keep the app's
    utf8mb4, strict SQL mode and UTC."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        parsed = parsed.update_query_dict({"local_infile": "1"})
    return create_db_engine(parsed.render_as_string(hide_password=False))


def prepare(connection: Connection) -> None:
    """Settings for this connection only, while the seed runs: SQLite does not wait for the disk after each
    commit (nothing is lost if the process dies; a power cut during the seed may damage the file) and keeps more
    pages in memory, for building the indexes too."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        connection.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB
    connection.commit()


def insert_statement(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def load_data_statement(table: str, columns: Sequence[str], nullable: Sequence[str]) -> str:
    """LOAD DATA of a file `separated` wrote; an empty field is NULL in a nullable column."""
    targets = ", ".join(f"@{column}" if column in nullable else column for column in columns)
    nulls = ", ".join(f"{column} = NULLIF(@{column}, '')" for column in columns if column in nullable)
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY X'{ord(FIELD):02X}' ESCAPED BY '' LINES TERMINATED BY X'{ord(RECORD):02X}' "
        f"({targets})" + (f" SET {nulls}" if nulls else "")
    )


def separated(rows: list[tuple]) -> str:
    """The rows as the file LOAD DATA reads: fields separated by FIELD, each row ended by RECORD, None empty."""
    text = "".join([FIELD.join(["" if value is None else str(value) for value in row]) + RECORD for row in rows])
    if text.count(RECORD) != len(rows) or text.count(FIELD) != len(rows) * (len(rows[0]) - 1):
        raise ValueError("a seeded value holds an ASCII separator")
    return text


def insert_rows(connection: Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """executemany: SQLite binds the tuples as they are; PyMySQL sends multi-row INSERTs, escaping each value."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(insert_statement(table, columns, mark), rows)


def load_rows(connection: Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """MySQL: LOAD DATA LOCAL INFILE from a temporary file of the rows, so no value is escaped in Python."""
    nullable = [column.name for column in Base.metadata.tables[table].columns if column.nullable]
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as file:
        file.write(separated(rows))
        file.flush()
        loaded = connection.exec_driver_sql(load_data_statement(table, columns, nullable), (file.name,)).rowcount
    # LOAD DATA LOCAL skips a row it cannot store (a duplicate id, say) with a warning instead of failing.
    warnings = connection.exec_driver_sql("SHOW WARNINGS LIMIT 5").all()
    if loaded != len(rows) or warnings:
        raise RuntimeError(f"{table}: {loaded} of {len(rows)} rows loaded; {[tuple(w) for w in warnings]}")


def row_writer(connection: Connection) -> Callable[[Connection, str, Sequence[str], list[tuple]], None]:
    """The fastest way this connection has: LOAD DATA where the MySQL server allows it (MariaDB does by
    default, MySQL 8 only with local_infile=ON), else executemany."""
    if connection.dialect.name != "sqlite" and connection.exec_driver_sql("SELECT @@local_infile").scalar():
        return load_rows
    return insert_rows


def last_ids(connection: Connection) -> tuple[int, int]:
    return (
        connection.scalar(select(func.max(Incident.id))) or 0,
        connection.scalar(select(func.max(IncidentEvent.id))) or 0,
    )


def drop_indexes(connection: Connection) -> list[str]:
    """Drop the secondary indexes of the seeded tables and return the statements that build them again, so that
    each is built once from the loaded rows (sorted, in one pass) instead of kept up to date row by row. On
    MySQL the indexes a foreign key may need (those leading with one of its columns) stay."""
    tables = (Incident.__tablename__, IncidentEvent.__tablename__)
    rebuild = []
    if connection.dialect.name == "sqlite":
        indexes = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (?, ?)",
            tables,
        ).all()
        for name, definition in indexes:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
            rebuild.append(definition)
    else:
        for table in tables:
            foreign = {fk["constrained_columns"][0] for fk in inspect(connection).get_foreign_keys(table)}
            definition = connection.exec_driver_sql(f"SHOW CREATE TABLE {table}").one()[1]
            keys = re.findall(r"^  (KEY `(\w+)` \(`(\w+)`.*\)),?$", definition, re.MULTILINE)
            dropped = [(key, name) for key, name, first in keys if first not in foreign]
            if dropped:
                connection.exec_driver_sql(f"ALTER TABLE {table} {', '.join(f'DROP KEY `{n}`' for _, n in dropped)}")
                rebuild.append(f"ALTER TABLE {table} {', '.join(f'ADD {key}' for key, _ in dropped)}")
    connection.commit()
    return rebuild


def finish(connection: Connection, indexes: Sequence[str]) -> None:
    """After the last chunk (or a failure): rebuild what is derived from the rows, once: the indexes `drop_indexes`
    dropped, the counts the list's totals read (set-based SQL), the metrics' aggregates (one streamed read of the
    incidents) and the search index. On SQLite, fresh statistics too, without which its planner walks the wrong
    index over a million rows."""
    for definition in indexes:
        connection.exec_driver_sql(definition)
    for statement in incident_service.recount_statements():
        connection.execute(statement)
    rebuild_metrics(connection)
    rebuild_search_index(connection)
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("ANALYZE")
    connection.commit()


def prefetched(chunks: Iterator[T]) -> Iterator[T]:
    """The items of `chunks`, each built in a thread while the caller writes the one before."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(next, chunks, None)
        while (chunk := future.result()) is not None:
            future = pool.submit(next, chunks, None)
            yield chunk


def seed(
    url: str,
    count: int,
    *,
    force: bool = False,
    rng: random.Random | None = None,
    now: datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add `count` incidents and the audit events of their history to the database at `url`, on a connection of
    the seed's own, one transaction per chunk of `chunk_size` incidents; into a table that already has incidents
    nothing, unless `force`. The people are the active responders and admins (none: events with no actor).
    The times end at `now` (default: the current time). Calls `progress(added)` after each chunk. Returns the
    number of incidents added."""
    engine = seed_engine(url)
    try:
        with engine.connect() as connection:
            empty = connection.scalar(select(Incident.id).limit(1)) is None
            if not empty and not force:
                return 0
            prepare(connection)
            write = row_writer(connection)
            people = connection.scalars(
                select(User.id).where(User.is_active.is_(True), User.role.in_([Role.RESPONDER, Role.ADMIN]))
            ).all()
            rows = Rows(rng or random.Random(), now or utcnow(), people or [None])
            last_id, last_event_id = last_ids(connection)
            indexes = drop_indexes(connection) if empty and count > chunk_size else []
            added = 0
            try:
                for incidents, events in prefetched(rows.chunks(last_id + 1, last_event_id + 1, count, chunk_size)):
                    # The ids are ours because the seed runs alone: no one else may have added rows meanwhile.
                    if last_ids(connection) != (last_id, last_event_id):
                        raise RuntimeError("Incidents were added while seeding; run the seed script alone.")
                    write(connection, Incident.__tablename__, INCIDENT_COLUMNS, incidents)
                    write(connection, IncidentEvent.__tablename__, EVENT_COLUMNS, events)
                    connection.commit()
                    added += len(incidents)
                    last_id, last_event_id = incidents[-1][0], events[-1][0]
                    if progress:
                        progress(added)
            finally:
                connection.rollback()
                finish(connection, indexes)
    finally:
        engine.dispose()
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="how many incidents to add (default 200)")
    parser.add_argument("--force", action="store_true", help="add incidents even if the table is not empty")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible data set")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")

    started = time.perf_counter()

    def progress(added: int) -> None:
        if added < args.count:
            print(f"  {added:,} of {args.count:,} incidents ({time.perf_counter() - started:.1f} s)", flush=True)

    added = seed(get_settings().database_url, args.count, force=args.force, rng=random.Random(args.seed),
                 progress=progress)  # fmt: skip
    if added == 0:
        print("The database already has incidents; nothing added (use --force to add more).")
    else:
        print(f"Seeded {added:,} incidents in {time.perf_counter() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
