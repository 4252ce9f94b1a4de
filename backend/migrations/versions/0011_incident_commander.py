"""an incident's commander

`incidents.commander_id` (optional, a user), with an index for the commander filter in the list's default order
and one for the sort by commander.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commander_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_incidents_commander_id_users"), "users", ["commander_id"], ["id"], ondelete="RESTRICT"
        )
        batch_op.create_index(
            "ix_incidents_archived_commander_created_at", ["archived", "commander_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_incidents_archived_commander", ["archived", "commander_id", "id"], unique=False)


def downgrade() -> None:
    # The foreign key first (with the index MySQL made for it), then the indexes and the column.
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_incidents_commander_id_users"), type_="foreignkey")
        batch_op.drop_index("ix_incidents_archived_commander")
        batch_op.drop_index("ix_incidents_archived_commander_created_at")
        batch_op.drop_column("commander_id")
