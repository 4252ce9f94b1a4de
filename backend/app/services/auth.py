"""Sign-in: the password check, the access token, and the throttle that slows password guessing.

Too many failed sign-ins for one account, or from one address, within a window are answered 429 until the oldest
of them leaves the window. Failures live in the database, so the limit holds across API processes, and they are
written in a transaction of their own, since the request itself fails.
"""

import math
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.database import utcnow
from app.errors import AppError
from app.models import LoginFailure, User
from app.security import create_access_token
from app.services.users import authenticate


def _retry_after(session: Session, condition: ColumnElement[bool], limit: int, window: timedelta) -> int | None:
    """Seconds until fewer than `limit` failures match within the window, or None if already fewer."""
    since = utcnow() - window
    recent = select(LoginFailure.failed_at).where(condition, LoginFailure.failed_at > since)
    count = session.scalar(select(func.count()).select_from(recent.subquery())) or 0
    if count < limit:
        return None
    # The failure whose expiry brings the count below the limit.
    oldest_needed = session.scalar(recent.order_by(LoginFailure.failed_at.desc()).limit(1).offset(limit - 1))
    return max(1, math.ceil((oldest_needed + window - utcnow()).total_seconds()))


def retry_after(session: Session, settings: Settings, email: str, client: str) -> int | None:
    window = timedelta(seconds=settings.login_failure_window_seconds)
    waits = [
        _retry_after(session, LoginFailure.email == email, settings.login_max_failures_per_account, window),
        _retry_after(session, LoginFailure.client == client, settings.login_max_failures_per_client, window),
    ]
    waits = [wait for wait in waits if wait is not None]
    return max(waits) if waits else None


def record_failure(session_factory: sessionmaker[Session], settings: Settings, email: str, client: str) -> None:
    """Remember a failed sign-in (committed at once), and forget failures that have left the window."""
    now = utcnow()
    with session_factory() as session, session.begin():
        session.add(LoginFailure(email=email[:254], client=client[:64], failed_at=now))
        cutoff = now - timedelta(seconds=settings.login_failure_window_seconds)
        session.execute(delete(LoginFailure).where(LoginFailure.failed_at < cutoff))


def clear_failures(session: Session, email: str) -> None:
    """A successful sign-in forgets the account's failures (in the request's own transaction)."""
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))


def sign_in(
    session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    email: str,
    password: str,
    client: str,
) -> User:
    """The account these credentials open, or 429 (throttled) / 401 (wrong email or password)."""
    email = email.strip().lower()
    wait = retry_after(session, settings, email, client)
    if wait is not None:
        raise AppError(
            429, f"Too many failed sign-ins. Try again in {wait} seconds.", headers={"Retry-After": str(wait)}
        )
    user = authenticate(session, email, password)
    if user is None:
        record_failure(session_factory, settings, email, client)
        raise AppError(401, "Incorrect email or password.", headers={"WWW-Authenticate": "Bearer"})
    clear_failures(session, email)
    return user


def issue_token(user: User, settings: Settings) -> str:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    return create_access_token(str(user.id), settings.secret_key, lifetime, version=user.token_version)
