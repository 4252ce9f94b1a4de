"""ORM models. Every table is utf8mb4 on MySQL; timestamps are UTC."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
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


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # The design's composite (severity, status), extended with created_at so that a filtered,
        # newest-first page is read in index order instead of sorting every match.
        Index("ix_incidents_severity_status", "severity", "status", "created_at"),
        Index("ix_incidents_status_created_at", "status", "created_at"),
        Index("ix_incidents_severity_created_at", "severity", "created_at"),
        Index("ix_incidents_created_at", "created_at"),
        Index("ix_incidents_updated_at", "updated_at"),
        Index("ix_incidents_archived_at", "archived_at"),  # every list and count filters on it
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

    # Many-to-one, loaded in the same query, so a page of incidents carries its people's names.
    created_by: Mapped["User | None"] = relationship(foreign_keys=[created_by_id], lazy="joined")
    updated_by: Mapped["User | None"] = relationship(foreign_keys=[updated_by_id], lazy="joined")
    archived_by: Mapped["User | None"] = relationship(foreign_keys=[archived_by_id], lazy="joined")

    def __repr__(self) -> str:
        return f"Incident(id={self.id!r}, severity={self.severity.value}, status={self.status.value})"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
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

    actor: Mapped["User | None"] = relationship(lazy="joined")


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
    email: Mapped[str] = mapped_column(String(254))
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


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
