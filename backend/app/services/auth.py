"""Sign-in: the password check, the access token, and the throttle that slows password guessing.

Failed sign-ins are counted within a window, three ways: for one account from one client address (a small limit:
a guesser is refused early), for one account from every address (a high ceiling, which still bounds guessing
spread over many addresses), and from one address for every account. An attempt over any of them is answered 429
until the oldest failure it needs leaves the window. So a stranger who guesses from elsewhere does not lock the
owner out: the owner's address has not failed for the account, and only the ceiling, far above one guesser's
limit, is shared. Before its limit, an address that keeps failing for an account is slowed down: after its first
failure it waits LOGIN_FAILURE_DELAY_SECONDS before it may try that account again, twice that after the second,
and so on (429 with Retry-After meanwhile). A success forgets the failures of its own account and address only,
so the owner signing in does not give a guesser elsewhere a fresh start.

Failures live in the database, so the limits hold across API processes, and they are written in a transaction of
their own, since the request itself fails. Each attempt is written before its password is checked, which makes the
limits hold for attempts sent in parallel too.
"""

import math
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.database import utcnow
from app.errors import AppError
from app.models import LoginFailure, User
from app.schemas import sign_in_email
from app.security import create_access_token
from app.services.users import authenticate


async def _retry_after(
    session: AsyncSession, condition: ColumnElement[bool], limit: int, window: timedelta
) -> int | None:
    """Seconds until fewer than `limit` failures match within the window, or None if already fewer."""
    since = utcnow() - window
    # The failure whose expiry brings the count below the limit, in one statement: attempts running in parallel
    # delete failures, so a count followed by a second read could find fewer rows than it counted.
    oldest_needed = await session.scalar(
        select(LoginFailure.failed_at)
        .where(condition, LoginFailure.failed_at > since)
        .order_by(LoginFailure.failed_at.desc())
        .limit(1)
        .offset(limit - 1)
    )
    if oldest_needed is None:
        return None
    return max(1, math.ceil((oldest_needed + window - utcnow()).total_seconds()))


async def _slow_down(
    session: AsyncSession, condition: ColumnElement[bool], delay: float, window: timedelta
) -> int | None:
    """Seconds until the next attempt is allowed after the matching failures: `delay` after the first, doubled after
    each further one (at most the window), counted from the newest; None if none match or the wait is over."""
    if delay <= 0:
        return None
    count, newest = (
        await session.execute(
            select(func.count(), func.max(LoginFailure.failed_at)).where(
                condition, LoginFailure.failed_at > utcnow() - window
            )
        )
    ).one()
    if not count:
        return None
    pause = min(delay * 2.0 ** min(count - 1, 60), window.total_seconds())
    wait = (newest + timedelta(seconds=pause) - utcnow()).total_seconds()
    return math.ceil(wait) if wait > 0 else None


async def _retry_after_others(session: AsyncSession, settings: Settings, attempt: LoginFailure) -> int | None:
    """The wait the other failures (and attempts in flight) impose on this attempt: per account and address, per
    account, per address, and the slow-down of an address that keeps failing for the account."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    # A failure forgotten by a success still counts for an attempt that began before that success.
    others = (LoginFailure.id != attempt.id) & (
        LoginFailure.forgotten_at.is_(None) | (LoginFailure.forgotten_at > attempt.failed_at)
    )
    same_account, same_client = LoginFailure.email == attempt.email, LoginFailure.client == attempt.client
    limits = [
        (same_account & same_client, settings.login_max_failures_per_account_client),
        (same_account, settings.login_max_failures_per_account),
        (same_client, settings.login_max_failures_per_client),
    ]
    waits = [await _retry_after(session, others & condition, limit, window) for condition, limit in limits]
    # Below its limit, an address that keeps failing for the account is slowed down first.
    waits.append(
        await _slow_down(session, others & same_account & same_client, settings.login_failure_delay_seconds, window)
    )
    waits = [wait for wait in waits if wait is not None]
    return max(waits) if waits else None


async def _begin_attempt(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, email: str, client: str
) -> LoginFailure:
    """Count the attempt as a failure before its password is checked, committed at once, so that attempts sent in
    parallel see each other: of the attempts over the limit, whichever counts last sees all the others and is refused.

    Failures that have left the window are forgotten first, in a transaction of their own: on MySQL a range delete
    locks the gaps it scans, and two transactions that each held such a gap and then inserted into it would
    deadlock. Both transactions only write, so SQLite never has to turn a read into a write."""
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.login_failure_window_seconds)
    async with session_factory() as session, session.begin():
        await session.execute(delete(LoginFailure).where(LoginFailure.failed_at < cutoff))
    attempt = LoginFailure(email=email[:254], client=client[:64], failed_at=now)
    async with session_factory() as session, session.begin():
        session.add(attempt)
    return attempt


async def _refuse_attempt(session_factory: async_sessionmaker[AsyncSession], attempt: LoginFailure) -> None:
    """A throttled attempt is not checked, so it does not count as a failure either."""
    async with session_factory() as session, session.begin():
        await session.execute(delete(LoginFailure).where(LoginFailure.id == attempt.id))


async def sign_in(
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    email: str,
    password: str,
    client: str,
) -> User:
    """The account these credentials open, or 429 (throttled) / 401 (wrong email or password).

    The throttle's own transactions run before the request's session is first used, so a sign-in holds one
    database connection at a time."""
    email = sign_in_email(email)
    attempt = await _begin_attempt(session_factory, settings, email, client)
    async with session_factory() as count_session:
        wait = await _retry_after_others(count_session, settings, attempt)
    if wait is not None:
        await _refuse_attempt(session_factory, attempt)
        raise AppError(
            429, f"Too many failed sign-ins. Try again in {wait} seconds.", headers={"Retry-After": str(wait)}
        )
    user = await authenticate(session, email, password)
    if user is None:  # the attempt stays, as a failure
        raise AppError(401, "Incorrect email or password.", headers={"WWW-Authenticate": "Bearer"})
    # Success forgets the account's failures from this address, this attempt included (in the request's own
    # transaction); those from elsewhere still count. They are marked, not deleted: attempts already in flight keep
    # counting them (`_retry_after_others`), and the window removes them with every other expired failure.
    await session.execute(
        update(LoginFailure)
        .where(
            LoginFailure.email == attempt.email,
            LoginFailure.client == attempt.client,
            LoginFailure.forgotten_at.is_(None),
        )
        .values(forgotten_at=utcnow())
    )
    return user


def issue_token(user: User, settings: Settings) -> str:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    return create_access_token(str(user.id), settings.secret_key, lifetime, version=user.token_version)
