"""Accounts: create, change, list, and the sign-in check. Flushes only; the request commits.

Argon2 costs tens of milliseconds of CPU by design: hashing and checking run in a worker thread (the hash releases
the GIL), so the event loop goes on serving other requests meanwhile."""

from collections.abc import Sequence

from anyio import to_thread
from sqlalchemy import false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import utcnow
from app.errors import AppError, NotFound
from app.models import Role, User
from app.schemas import PageParams, UserCreate, UserUpdate
from app.security import hash_password, verify_password
from app.services.paging import fetch_page


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found.")
    return user


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    """The account with exactly this email, already in `schemas.normalize_email`'s form (compared byte for byte)."""
    return await session.scalar(select(User).where(User.email == email))


async def list_users(session: AsyncSession, params: PageParams) -> tuple[Sequence[User], int]:
    return await fetch_page(session, User, [], [User.id.asc()], params)


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    if await find_by_email(session, data.email) is not None:
        raise AppError(409, f"An account with the email {data.email} already exists.")
    now = utcnow()
    user = User(
        email=data.email,  # normalised by the schema
        display_name=data.display_name,
        role=data.role,
        password_hash=await to_thread.run_sync(hash_password, data.password),
        is_active=True,
        token_version=0,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def _lock_active_admins(session: AsyncSession) -> Sequence[User]:
    """The active admins as last committed, locked until the transaction ends, so that two requests that each
    demote or deactivate an admin take turns: the second reads what the first committed.

    MySQL/MariaDB: SELECT ... FOR UPDATE locks the rows (with no index on role, InnoDB locks every account row it
    scans, in id order, so two such requests queue one behind the other), and a locking read sees the newest
    committed rows even under REPEATABLE READ. `populate_existing` replaces what the session had loaded from its
    older snapshot.

    SQLite ignores FOR UPDATE, and the driver starts a transaction only at the first write, so a plain read
    here would see the other request's admin still active and the write would then merely wait for the lock
    and succeed. A write that changes nothing takes SQLite's single write lock first: a second request waits
    for the first to commit (up to the connection's busy timeout) and then reads its result. If it waits
    longer, it fails with "database is locked" (OperationalError, a 500 with nothing changed), never a silent
    success.
    """
    if session.get_bind().dialect.name == "sqlite":
        no_change = update(User).where(false()).values(id=User.id).execution_options(synchronize_session=False)
        await session.execute(no_change)
    admins = await session.scalars(
        select(User)
        .where(User.role == Role.ADMIN, User.is_active.is_(True))
        .order_by(User.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return admins.all()


async def update_user(session: AsyncSession, user: User, data: UserUpdate) -> User:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active", True) is False:
        # Could leave no active admin: lock them first (this also re-reads `user` if it is one).
        other_admins = [admin for admin in await _lock_active_admins(session) if admin.id != user.id]
        if user.role == Role.ADMIN and user.is_active and not other_admins:
            raise AppError(409, "This is the last active admin: make another admin first.")
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    if "role" in changes:
        user.role = changes["role"]
    if "is_active" in changes:
        if user.is_active and not changes["is_active"]:
            user.token_version += 1  # signs the account out everywhere
        user.is_active = changes["is_active"]
    if "password" in changes:
        user.password_hash = await to_thread.run_sync(hash_password, changes["password"])
        user.token_version += 1  # a new password ends every session opened with the old one
    if changes:
        user.updated_at = utcnow()
        await session.flush()
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The active account with this email and password, or None. An unknown email costs a hash check too."""
    user = await find_by_email(session, email)
    if not await to_thread.run_sync(verify_password, password, user.password_hash if user else None):
        return None
    if not user or not user.is_active:
        return None
    return user
