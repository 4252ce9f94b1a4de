"""emails in one normalised form, compared byte for byte

Every account's email is rewritten in `app.schemas.normalize_email`'s form (trimmed, NFC, lower-cased, the domain
IDNA-encoded), and so is the email of every recorded sign-in failure. On MySQL both columns take the binary
collation utf8mb4_bin, so that `ä` is not `a` and an invisible character is not ignored.

If two accounts become the same address (e.g. `admin@exämple.com` and `admin@xn--exmple-cua.com`), nothing is
changed and the migration stops, naming them: give all but one of each group another email (or merge them), then
migrate again. An email that is not a valid address is left as it is.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError
from pydantic_core import PydanticCustomError
from sqlalchemy.dialects import mysql

from app.schemas import normalize_email, sign_in_email

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("users", "login_failures")


def _normalised(email: str) -> str:
    try:
        return normalize_email(email)
    except (EmailNotValidError, PydanticCustomError):
        return email


def _failure_key(email: str) -> str:
    try:
        return sign_in_email(email)[:254]
    except PydanticCustomError:
        return email


def _set_collation(collation: str) -> None:
    for table in COLUMNS:
        op.alter_column(
            table,
            "email",
            type_=mysql.VARCHAR(254, collation=collation),
            existing_type=sa.String(254),
            existing_nullable=False,
        )


def upgrade() -> None:
    bind = op.get_bind()
    accounts = bind.execute(sa.text("SELECT id, email FROM users ORDER BY id")).all()
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for account_id, email in accounts:
        groups[_normalised(email)].append((account_id, email))
    collisions = {address: group for address, group in groups.items() if len(group) > 1}
    if collisions:
        lines = [
            f"{address}: " + ", ".join(f"account {account_id} ({email!r})" for account_id, email in group)
            for address, group in sorted(collisions.items())
        ]
        raise RuntimeError(
            "These accounts would share one email once normalised, so nothing was changed:\n  "
            + "\n  ".join(lines)
            + "\nGive all but one of each group another email (or merge them), then migrate again."
        )
    if bind.dialect.name in ("mysql", "mariadb"):
        _set_collation("utf8mb4_bin")
    for address, [(account_id, email)] in groups.items():
        if address != email:
            bind.execute(
                sa.text("UPDATE users SET email = :address WHERE id = :id"), {"address": address, "id": account_id}
            )
    failures = bind.execute(sa.text("SELECT DISTINCT email FROM login_failures")).scalars().all()
    for email in failures:
        if (key := _failure_key(email)) != email:
            bind.execute(
                sa.text("UPDATE login_failures SET email = :key WHERE email = :email"), {"key": key, "email": email}
            )


def downgrade() -> None:
    """Back to the case- and accent-insensitive collation; the emails stay normalised."""
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        _set_collation("utf8mb4_unicode_ci")
