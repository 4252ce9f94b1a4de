"""list at scale: archived flag, status rank, indexes that lead with the flag, per-group incident counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from itertools import product

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
STATUSES = ("OPEN", "MITIGATED", "RESOLVED")  # in lifecycle order: the index is the rank

OLD_INDEXES = {
    "ix_incidents_severity_status": ["severity", "status", "created_at"],
    "ix_incidents_status_created_at": ["status", "created_at"],
    "ix_incidents_severity_created_at": ["severity", "created_at"],
    "ix_incidents_created_at": ["created_at"],
    "ix_incidents_updated_at": ["updated_at"],
    "ix_incidents_archived_at": ["archived_at"],
}
NEW_INDEXES = {
    "ix_incidents_archived_id": ["archived", "id"],
    "ix_incidents_archived_created_at": ["archived", "created_at", "id"],
    "ix_incidents_archived_updated_at": ["archived", "updated_at", "id"],
    "ix_incidents_archived_title": ["archived", "title", "id"],
    "ix_incidents_archived_service": ["archived", "service", "id"],
    "ix_incidents_archived_severity": ["archived", "severity", "id"],
    "ix_incidents_archived_status_rank": ["archived", "status_rank", "id"],
    "ix_incidents_archived_severity_created_at": ["archived", "severity", "created_at", "id"],
    "ix_incidents_archived_status_created_at": ["archived", "status", "created_at", "id"],
    "ix_incidents_archived_severity_status_created_at": ["archived", "severity", "status", "created_at", "id"],
}

incidents = sa.table(
    "incidents",
    sa.column("archived", sa.Boolean()),
    sa.column("archived_at", sa.DateTime()),
    sa.column("severity", sa.String()),
    sa.column("status", sa.String()),
    sa.column("status_rank", sa.SmallInteger()),
)


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("status_rank", sa.SmallInteger(), server_default="0", nullable=False))

    # Fill the derived columns for the rows there already are.
    op.execute(
        incidents.update().values(
            archived=incidents.c.archived_at.is_not(None),
            status_rank=sa.case({status: rank for rank, status in enumerate(STATUSES)}, value=incidents.c.status),
        )
    )

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        # The rank has no default: a row written without it is an error, never silently OPEN.
        batch_op.alter_column("status_rank", existing_type=sa.SmallInteger(), server_default=None)
        for name in OLD_INDEXES:
            batch_op.drop_index(name)
        for name, columns in NEW_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)

    counts = op.create_table(
        "incident_counts",
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("severity", _enum(SEVERITIES, "severity"), nullable=False),
        sa.Column("status", _enum(STATUSES, "status"), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("archived", "severity", "status", name=op.f("pk_incident_counts")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    # One row per group, zero or not, so that keeping the counts only ever updates rows that exist.
    grouped = sa.select(incidents.c.archived, incidents.c.severity, incidents.c.status, sa.func.count()).group_by(
        incidents.c.archived, incidents.c.severity, incidents.c.status
    )
    existing = {(bool(a), sev, st): n for a, sev, st, n in op.get_bind().execute(grouped)}
    op.bulk_insert(
        counts,
        [
            {"archived": archived, "severity": severity, "status": status, "total": existing.get(key, 0)}
            for key in product((False, True), SEVERITIES, STATUSES)
            for archived, severity, status in [key]
        ],
    )


def downgrade() -> None:
    op.drop_table("incident_counts")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for name in NEW_INDEXES:
            batch_op.drop_index(name)
        for name, columns in OLD_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
        batch_op.drop_column("status_rank")
        batch_op.drop_column("archived")
