"""the commander filter in the triage board's order

An index on (archived, commander_id, severity, id): the default view of the list (active incidents, most severe
first) filtered by commander (`commander=me`, `<id>`, `none`) reads one commander's rows in severity order and stops
after a page, instead of walking every incident in severity order to find that commander's.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incidents_archived_commander_severity", ["archived", "commander_id", "severity", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_archived_commander_severity")
