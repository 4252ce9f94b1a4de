"""search index: each distinct title and service value, its folded form and trigrams; title and service indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci", "mysql_engine": "InnoDB"}
TEXT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "search_texts",
        sa.Column("id", TEXT_ID, autoincrement=False, nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("folded", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_texts")),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "search_trigrams",
        sa.Column("trigram", sa.LargeBinary().with_variant(mysql.VARBINARY(12), "mysql", "mariadb"), nullable=False),
        sa.Column("text_id", TEXT_ID, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("trigram", "text_id", name=op.f("pk_search_trigrams")),
        sqlite_with_rowid=False,
        **MYSQL_TABLE_ARGS,
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_title", ["title"], unique=False)
        batch_op.create_index("ix_incidents_service", ["service"], unique=False)

    # Index the incidents that are already there.
    from app.services.search import rebuild_search_index

    rebuild_search_index(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_service")
        batch_op.drop_index("ix_incidents_title")

    op.drop_table("search_trigrams")
    op.drop_table("search_texts")
