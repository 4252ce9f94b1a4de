"""Who can be named on an incident (its commander): the active accounts, by display name. Reads only."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.schemas import PeopleParams


async def list_people(session: AsyncSession, params: PeopleParams) -> Sequence[tuple[int, str]]:
    """(id, display_name) of up to `limit` active users whose name holds `search` (ignoring case), by name then id.

    The name is compared and ordered in lower case on both databases: SQLite's own comparison is case-sensitive,
    MariaDB's *_ci collation is not, and the list must read the same on either."""
    name = func.lower(User.display_name)
    statement = select(User.id, User.display_name).where(User.is_active.is_(True))
    if params.search:
        statement = statement.where(name.contains(params.search.lower(), autoescape=True))
    statement = statement.order_by(name, User.id).limit(params.limit)
    return [(row.id, row.display_name) for row in await session.execute(statement)]
