"""metrics: the aggregates `GET /api/metrics` reads

`incident_open_counts` (live OPEN and MITIGATED incidents per severity and service), `incident_week_counts`
(created and resolved per ISO week, severity and service) and `incident_duration_counts` (a histogram of the time
to mitigate and to resolve per service, week of creation and severity) with its sums over the services
(`incident_severity_duration_counts`) and over the severities (`incident_service_duration_counts`), filled from the
incidents there are.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
# A service name compared byte for byte, as on SQLite.
SERVICE = sa.String(100).with_variant(mysql.VARCHAR(100, collation="utf8mb4_bin"), "mysql", "mariadb")
MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _kind() -> sa.Enum:
    return _enum(("created", "resolved", "mitigate", "resolve"), "metric_kind")


def upgrade() -> None:
    op.create_table(
        "incident_open_counts",
        sa.Column("severity", _enum(SEVERITIES, "severity"), nullable=False),
        sa.Column("service", SERVICE, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("severity", "service", name=op.f("pk_incident_open_counts")),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "incident_week_counts",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("severity", _enum(SEVERITIES, "severity"), nullable=False),
        sa.Column("service", SERVICE, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("week", "kind", "severity", "service", name=op.f("pk_incident_week_counts")),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "incident_duration_counts",
        sa.Column("service", SERVICE, nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("severity", _enum(SEVERITIES, "severity"), nullable=False),
        sa.Column("seconds", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "service", "week", "kind", "severity", "seconds", name=op.f("pk_incident_duration_counts")
        ),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "incident_severity_duration_counts",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("severity", _enum(SEVERITIES, "severity"), nullable=False),
        sa.Column("seconds", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "week", "kind", "severity", "seconds", name=op.f("pk_incident_severity_duration_counts")
        ),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "incident_service_duration_counts",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("service", SERVICE, nullable=False),
        sa.Column("seconds", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("week", "kind", "service", "seconds", name=op.f("pk_incident_service_duration_counts")),
        **MYSQL_TABLE_ARGS,
    )

    # Fill them from the incidents there are.
    from app.services.metrics import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("incident_service_duration_counts")
    op.drop_table("incident_severity_duration_counts")
    op.drop_table("incident_duration_counts")
    op.drop_table("incident_week_counts")
    op.drop_table("incident_open_counts")
