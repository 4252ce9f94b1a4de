"""Live feed: the outbox of live events and the sequence that numbers them in commit order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci", "mysql_engine": "InnoDB"}
LIVE_JSON = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("event", LIVE_JSON, nullable=False),
        sa.Column("incident", LIVE_JSON, nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_live_events")),
        **TABLE_ARGS,
    )
    sequence = op.create_table(
        "live_sequence",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_sequence")),
        **TABLE_ARGS,
    )
    op.bulk_insert(sequence, [{"id": 1, "position": 0}])


def downgrade() -> None:
    op.drop_table("live_sequence")
    op.drop_table("live_events")
