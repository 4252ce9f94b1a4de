"""CSV export: export events in the audit trail, download tickets

An export concerns no one incident: `incident_events.incident_id` becomes nullable, the `exported` action joins
the CHECK of `action`, and a nullable JSON column `details` holds what was exported (filters, row count, whether
the download completed). `download_tickets` holds the hashes of short-lived, single-use download tickets.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.database

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ACTIONS = ("created", "updated", "note_added", "archived", "restored")
NEW_ACTIONS = (*OLD_ACTIONS, "exported")


def _action_check(actions: tuple[str, ...]) -> str:
    return "action IN (" + ", ".join(f"'{action}'" for action in actions) + ")"


def upgrade() -> None:
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_incident_events_event_action"), type_="check")
        batch_op.create_check_constraint("event_action", _action_check(NEW_ACTIONS))
        batch_op.alter_column("incident_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))

    op.create_table(
        "download_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=100), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("created_at", app.database.UTCDateTime(), nullable=False),
        sa.Column("expires_at", app.database.UTCDateTime(), nullable=False),
        sa.Column("used_at", app.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_download_tickets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_download_tickets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_download_tickets_token_hash")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("download_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_download_tickets_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("download_tickets")
    # The export events cannot be kept: they have no incident, and the old CHECK does not know their action.
    op.execute(sa.text("DELETE FROM incident_events WHERE action = 'exported'"))
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_column("details")
        batch_op.alter_column("incident_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(batch_op.f("ck_incident_events_event_action"), type_="check")
        batch_op.create_check_constraint("event_action", _action_check(OLD_ACTIONS))
