"""Download tickets: a short-lived, single-use permission to download one export as one account.

A browser downloads by navigating to a URL, which cannot carry an `Authorization` header, and a long-lived access
token must not appear in a URL (it ends up in histories and logs). So the page asks for a ticket with its token,
then navigates to the export's URL with `ticket=...`. The ticket is bound to the account, the path and the query
(in a canonical form: sorted pairs, without `ticket`), lives 60 seconds and works once. Only its SHA-256 is
stored (it is a random 256-bit value, so a fast hash is enough), in the database, so that single use holds across
several API processes: the first request to mark it used wins, every other one gets 401.
"""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.database import utcnow
from app.errors import AppError
from app.models import DownloadTicket, User

TICKET_SECONDS = 60
TICKET_PARAMETER = "ticket"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The query a ticket is bound to: its pairs sorted, without the ticket itself."""
    return urlencode(sorted((name, value) for name, value in pairs if name != TICKET_PARAMETER))


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _refused() -> AppError:
    return AppError(
        401,
        "The download ticket is unknown, used, expired or for another download. Ask for a new one.",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def forget_expired(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """Delete the tickets past their time, in a transaction of its own: on MySQL a range delete locks the gaps it
    scans, and two requests that each held one and then inserted a ticket into it would deadlock."""
    async with session_factory() as session, session.begin():
        await session.execute(delete(DownloadTicket).where(DownloadTicket.expires_at < utcnow()))


async def issue(session: AsyncSession, user: User, path: str, query: str) -> tuple[str, DownloadTicket]:
    """A new ticket for `user` to download `path?query` once, within TICKET_SECONDS; returns it and its row."""
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    row = DownloadTicket(
        token_hash=_digest(ticket),
        user_id=user.id,
        token_version=user.token_version,
        path=path,
        query=query,
        created_at=now,
        expires_at=now + timedelta(seconds=TICKET_SECONDS),
    )
    session.add(row)
    await session.flush()
    return ticket, row


async def redeem(session: AsyncSession, ticket: str, path: str, query: str) -> User:
    """The account the ticket lets download `path?query`, marking the ticket used; 401 for a ticket that is
    unknown, used, expired, for another path or query, or whose account has since been disabled or changed its
    password."""
    now = utcnow()
    found = await session.scalar(select(DownloadTicket).where(DownloadTicket.token_hash == _digest(ticket)))
    if found is None or found.used_at is not None or found.expires_at <= now:
        raise _refused()
    if (found.path, found.query) != (path, query):
        raise _refused()
    # The race between two requests with the same ticket: only one of them changes the row.
    claimed = await session.execute(
        update(DownloadTicket)
        .where(DownloadTicket.id == found.id, DownloadTicket.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise _refused()
    user = await session.get(User, found.user_id)
    if user is None or not user.is_active or user.token_version != found.token_version:
        raise _refused()
    return user
