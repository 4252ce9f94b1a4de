"""ORM models. Every table is utf8mb4 on MySQL; timestamps are UTC."""

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import Base, UTCDateTime, utcnow

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


class Severity(enum.StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class Status(enum.StrEnum):
    OPEN = "OPEN"
    MITIGATED = "MITIGATED"
    RESOLVED = "RESOLVED"

    @property
    def rank(self) -> int:
        """The place in the lifecycle (OPEN 0, MITIGATED 1, RESOLVED 2): what a sort by status orders by."""
        return list(Status).index(self)


class Role(enum.StrEnum):
    """What a signed-in user may do; each role can do everything the ones before it can."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class EventAction(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    NOTE_ADDED = "note_added"
    ARCHIVED = "archived"
    RESTORED = "restored"
    EXPORTED = "exported"  # a CSV export: no incident; `details` holds what was exported


def _enum(enum_class: type[enum.Enum], name: str) -> Enum:
    return Enum(
        enum_class,
        name=name,
        native_enum=False,  # VARCHAR + CHECK on both databases: one behaviour, and new values need no ALTER of an ENUM
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def _insert_parameter(context: Any, name: str, fallback: Any = None) -> Any:
    return context.get_current_parameters().get(name, fallback)


def _status_rank_on_insert(context: Any) -> int:
    return Status(_insert_parameter(context, "status", Status.OPEN)).rank


def _archived_on_insert(context: Any) -> bool:
    return _insert_parameter(context, "archived_at") is not None


class Incident(Base):
    __tablename__ = "incidents"
    # Every list filters on `archived` (live or archived view), so every index leads with it: a list then reads
    # one index in order, and stops after a page. `id` ends each one, the tie-breaker of every sort.
    __table_args__ = (
        # The sorts, each both ways (an index reads backwards as well).
        Index("ix_incidents_archived_id", "archived", "id"),
        Index("ix_incidents_archived_created_at", "archived", "created_at", "id"),
        Index("ix_incidents_archived_updated_at", "archived", "updated_at", "id"),
        Index("ix_incidents_archived_title", "archived", "title", "id"),
        Index("ix_incidents_archived_service", "archived", "service", "id"),
        Index("ix_incidents_archived_severity", "archived", "severity", "id"),
        Index("ix_incidents_archived_status_rank", "archived", "status_rank", "id"),
        # The filters, with the default newest-first order: the design's composite (severity, status) among them.
        Index("ix_incidents_archived_severity_created_at", "archived", "severity", "created_at", "id"),
        Index("ix_incidents_archived_status_created_at", "archived", "status", "created_at", "id"),
        Index("ix_incidents_archived_severity_status_created_at", "archived", "severity", "status", "created_at", "id"),
        # The commander: the filter (`commander=<id>`, `me`, `none`: an equality or IS NULL on the second column)
        # with the default newest-first order, whose bounded count reads this index alone; and the sort by
        # commander (by the commander's id, then id), which needs the id right after the commander's. NULL
        # (unowned) is the smallest value on both databases: first ascending, last descending. (MariaDB sorts the
        # descending pages that resume inside the unowned rows from this index, not in its order: 15 ms for 66,666.)
        Index("ix_incidents_archived_commander_created_at", "archived", "commander_id", "created_at", "id"),
        Index("ix_incidents_archived_commander", "archived", "commander_id", "id"),
        # The commander filter in the triage board's default order (active, most severe first, then oldest).
        Index("ix_incidents_archived_commander_severity", "archived", "commander_id", "severity", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(100))
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    status: Mapped[Status] = mapped_column(_enum(Status, "status"), default=Status.OPEN)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # Who owns the incident now (optional): an active user when set (services/incidents.py checks). Users are
    # never deleted, only deactivated, so the reference stays valid.
    commander_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # Derived, kept by the service (and set from the row on a plain insert, such as the seed's): whether
    # `archived_at` is set, and the status's place in the lifecycle. Indexable, unlike `archived_at IS NULL`
    # (a range for the archived view) or a CASE over `status`.
    archived: Mapped[bool] = mapped_column(Boolean, default=_archived_on_insert, server_default=false())
    status_rank: Mapped[int] = mapped_column(SmallInteger, default=_status_rank_on_insert)
    # 1 on create, +1 on every change to what the incident's JSON shows (its fields, archive and restore; not a
    # note): the incident's ETag, compared with If-Match under the row's lock (services/incidents.py).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    # Many-to-one. Never loaded implicitly (an implicit load is an error, not a hidden round trip): the queries
    # that show people say so (services.incidents.WITH_PEOPLE), loading them in the same query.
    created_by: Mapped["User | None"] = relationship(foreign_keys=[created_by_id], lazy="raise_on_sql")
    updated_by: Mapped["User | None"] = relationship(foreign_keys=[updated_by_id], lazy="raise_on_sql")
    archived_by: Mapped["User | None"] = relationship(foreign_keys=[archived_by_id], lazy="raise_on_sql")
    commander: Mapped["User | None"] = relationship(foreign_keys=[commander_id], lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"Incident(id={self.id!r}, severity={self.severity.value}, status={self.status.value})"


class IncidentCount(Base):
    """How many incidents there are per (archived, severity, status): a total without search is the sum of the
    matching rows, exact and cheap. Changed in the same transaction as every create, severity or status change,
    archive and restore (services/incidents.py), so it is always the COUNT(*) of what is committed."""

    __tablename__ = "incident_counts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    archived: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), primary_key=True)
    status: Mapped[Status] = mapped_column(_enum(Status, "status"), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


# An email, in the one form `schemas.normalize_email` gives it, compared byte for byte: a binary collation on
# MySQL, whose utf8mb4_unicode_ci would take `ä` for `a` and ignore invisible characters (SQLite compares bytes).
EMAIL = String(254).with_variant(mysql.VARCHAR(254, collation="utf8mb4_bin"), "mysql", "mariadb")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (trimmed, NFC, lower-cased, the domain IDNA-encoded), so one address is one account.
    email: Mapped[str] = mapped_column(EMAIL, unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of every access token; raising it (new password, deactivation) invalidates the tokens already issued.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, role={self.role.value})"


class IncidentEvent(Base):
    """One entry of the audit trail. Append-only: nothing updates or deletes it, and no cascade reaches it
    (its foreign keys RESTRICT), so an incident's history outlives any change to the incident."""

    __tablename__ = "incident_events"
    __table_args__ = (
        Index("ix_incident_events_incident_id_id", "incident_id", "id"),
        Index("ix_incident_events_created_at", "created_at"),
        Index("ix_incident_events_actor_id_created_at", "actor_id", "created_at"),
        Index("ix_incident_events_action_created_at", "action", "created_at"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Null only for an export, which concerns no one incident (and so is in no incident's timeline).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    # Null only for changes no person made (the seed script).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    action: Mapped[EventAction] = mapped_column(_enum(EventAction, "event_action"))
    # {"field": {"old": ..., "new": ...}} for created/updated; null otherwise.
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    # For an export: {"export": "incidents" | "audit", "filters": {...}, "rows": N, "completed": bool}; else null.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped["User | None"] = relationship(lazy="raise_on_sql")  # loaded by services.audit.WITH_ACTOR


class LoginFailure(Base):
    """A failed sign-in, kept for a while to slow down password guessing (per account and per address).
    In the database, so the limit holds across several API processes."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_failed_at", "email", "failed_at"),
        Index("ix_login_failures_client_failed_at", "client", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),  # forgetting expired failures touches only those
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(EMAIL)  # as the sign-in named it, normalised (schemas.sign_in_email)
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when a successful sign-in forgets the account's failures. The row still counts for the attempts that
    # began before that moment (in parallel with the success), so they cannot slip through a reset.
    forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- The search index -----------------------------------------------------------------------------------------
# Substring search over titles and services (app/services/search.py keeps these tables and reads them): every
# distinct title or service value is stored once, with its case-folded form and the trigrams of that form. A
# search finds the values that contain the term there, then the incidents that hold one of those values through
# plain indexes on `title` and `service`. Incidents repeat their services and often their titles, so the index
# grows with the number of distinct values, not with the number of incidents. Values, folded texts and trigrams
# are UTF-8 bytes (VARBINARY/BLOB): byte-wise comparison on every database, with no collation in between.

# The id of a value is a 63-bit hash of it: concurrent writers of the same new value write the same row.
SEARCH_TEXT_ID = BigInteger().with_variant(Integer, "sqlite")
SEARCH_TRIGRAM = LargeBinary().with_variant(mysql.VARBINARY(12), "mysql", "mariadb")


class SearchText(Base):
    """A distinct title or service value (exactly as stored in `incidents`) and its case-folded form."""

    __tablename__ = "search_texts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(SEARCH_TEXT_ID, primary_key=True, autoincrement=False)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    folded: Mapped[bytes] = mapped_column(LargeBinary)


class SearchTrigram(Base):
    """A trigram (three characters, as UTF-8) of a folded text. A folded text ends in two NUL characters here,
    so that every substring of one or two characters is the start of some trigram of the text."""

    __tablename__ = "search_trigrams"
    __table_args__ = (MYSQL_TABLE_ARGS | {"sqlite_with_rowid": False},)

    trigram: Mapped[bytes] = mapped_column(SEARCH_TRIGRAM, primary_key=True)
    text_id: Mapped[int] = mapped_column(SEARCH_TEXT_ID, primary_key=True, autoincrement=False)


# The incidents that hold a value.
Index("ix_incidents_title", Incident.title)
Index("ix_incidents_service", Incident.service)


# --- CSV export ----------------------------------------------------------------------------------------------


class DownloadTicket(Base):
    """A short-lived, single-use permission to download one export (one path and query) as one account, so that a
    browser can be sent to the export's URL without an access token in it. Only the ticket's SHA-256 is stored;
    in the database, so that single use holds across several API processes."""

    __tablename__ = "download_tickets"
    __table_args__ = (
        Index("ix_download_tickets_expires_at", "expires_at"),  # forgetting expired tickets touches only those
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The account's token version when the ticket was issued: a new password or a deactivation voids it too.
    token_version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))  # canonical: sorted pairs, without `ticket`
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- Idempotent creates ----------------------------------------------------------------------------------------


class IdempotencyKey(Base):
    """An `Idempotency-Key` one account sent with a create, and the first answer to it, replayed for 24 hours.

    The row is claimed (committed, with no answer yet) before the create runs, so that a concurrent request with
    the same key sees it in flight; the create's own transaction fills in the answer. Only the key's SHA-256 is
    stored: a fixed length to index, compared byte for byte whatever the column collation."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key_hash"),
        Index("ix_idempotency_keys_created_at", "created_at"),  # forgetting old keys touches only those
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the request body as JSON in canonical form (sorted keys, no spaces).
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The first answer; null while the first request is in flight.
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    body: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- The live feed ---------------------------------------------------------------------------------------------

# MEDIUMTEXT on MySQL: an update of a 10,000-character description carries it twice (old and new), in UTF-8.
LIVE_JSON = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class LiveEvent(Base):
    """The outbox of the live feed: one row per audit event of an incident, written in the change's transaction
    (services/outbox.py) with what its message needs after the change, as the API serialises it. `position` is
    the change's place in commit order (numbered under `live_sequence`'s row lock, taken last before commit), so
    a client that resumes after a position misses nothing. Pruned to the newest LIVE_RETENTION_CHANGES."""

    __tablename__ = "live_events"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    incident_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    # Whether the incident is archived after the change: such an incident reaches only admins.
    archived: Mapped[bool] = mapped_column(Boolean)
    event: Mapped[str] = mapped_column(LIVE_JSON)  # EventRead as JSON
    incident: Mapped[str] = mapped_column(LIVE_JSON)  # IncidentRead as JSON


class LiveSequence(Base):
    """One row: the last position given to a live event. Raising it locks the row until commit, so positions
    follow commit order."""

    __tablename__ = "live_sequence"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)


# --- Metrics ---------------------------------------------------------------------------------------------------
# What `GET /api/metrics` reads, kept by app/services/metrics.py in the same transaction as every change to an
# incident (create, update, archive, restore), so each is always the aggregate of the committed live incidents.
# Archived incidents are in none of them. A service name is compared byte for byte here (a binary collation on
# MySQL), as SQLite does: `payments-api` and `Payments-API` are two services.
METRIC_SERVICE = String(100).with_variant(mysql.VARCHAR(100, collation="utf8mb4_bin"), "mysql", "mariadb")


class MetricKind(enum.StrEnum):
    CREATED = "created"  # incident_week_counts: by the week of created_at
    RESOLVED = "resolved"  # incident_week_counts: by the week of resolved_at
    MITIGATE = "mitigate"  # incident_duration_counts: mitigated_at - created_at, by the week of created_at
    RESOLVE = "resolve"  # incident_duration_counts: resolved_at - created_at, by the week of created_at


class IncidentOpenCount(Base):
    """How many live incidents are OPEN or MITIGATED now, per (severity, service)."""

    __tablename__ = "incident_open_counts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), primary_key=True)
    service: Mapped[str] = mapped_column(METRIC_SERVICE, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class IncidentWeekCount(Base):
    """How many live incidents were created (`kind` created) or resolved (`kind` resolved) in each ISO week (UTC,
    `week` is its Monday), per (severity, service). An incident reopened and resolved again counts in the week of
    its last resolution only."""

    __tablename__ = "incident_week_counts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[MetricKind] = mapped_column(_enum(MetricKind, "metric_kind"), primary_key=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), primary_key=True)
    service: Mapped[str] = mapped_column(METRIC_SERVICE, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class IncidentDurationCount(Base):
    """A histogram of the time to mitigate (`kind` mitigate) and to resolve (`kind` resolve) of the live incidents
    created in each ISO week, per (service, severity): how many took at most `seconds`, a step of the duration
    scale (services/metrics.py, DURATION_STEPS), and more than the step below it. Led by the service, which a
    filter names; the two tables below are the same histogram summed over the services and over the severities,
    so that the figures of all services (or all severities) read a fraction of the rows."""

    __tablename__ = "incident_duration_counts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    service: Mapped[str] = mapped_column(METRIC_SERVICE, primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[MetricKind] = mapped_column(_enum(MetricKind, "metric_kind"), primary_key=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), primary_key=True)
    seconds: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class IncidentSeverityDurationCount(Base):
    """incident_duration_counts summed over the services."""

    __tablename__ = "incident_severity_duration_counts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[MetricKind] = mapped_column(_enum(MetricKind, "metric_kind"), primary_key=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), primary_key=True)
    seconds: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class IncidentServiceDurationCount(Base):
    """incident_duration_counts summed over the severities."""

    __tablename__ = "incident_service_duration_counts"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[MetricKind] = mapped_column(_enum(MetricKind, "metric_kind"), primary_key=True)
    service: Mapped[str] = mapped_column(METRIC_SERVICE, primary_key=True)
    seconds: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
