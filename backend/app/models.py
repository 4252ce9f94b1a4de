"""ORM models. Every table is utf8mb4 on MySQL; timestamps are UTC."""

import enum
from datetime import datetime

from sqlalchemy import Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

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

    def __repr__(self) -> str:
        return f"Incident(id={self.id!r}, severity={self.severity.value}, status={self.status.value})"
