"""create incidents

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.database

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column(
            "severity",
            sa.Enum("SEV1", "SEV2", "SEV3", "SEV4", name="severity", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("OPEN", "MITIGATED", "RESOLVED", name="status", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", app.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.database.UTCDateTime(), nullable=False),
        sa.Column("mitigated_at", app.database.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", app.database.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_incidents_severity_created_at", ["severity", "created_at"], unique=False)
        batch_op.create_index("ix_incidents_severity_status", ["severity", "status", "created_at"], unique=False)
        batch_op.create_index("ix_incidents_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_incidents_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_updated_at")
        batch_op.drop_index("ix_incidents_status_created_at")
        batch_op.drop_index("ix_incidents_severity_status")
        batch_op.drop_index("ix_incidents_severity_created_at")
        batch_op.drop_index("ix_incidents_created_at")

    op.drop_table("incidents")
