"""Accounts: create, change, list, and the sign-in check. Flushes only; the request commits."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.database import utcnow
from app.errors import AppError, NotFound
from app.models import Role, User
from app.schemas import PageParams, UserCreate, UserUpdate
from app.security import hash_password, verify_password
from app.services.paging import fetch_page


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found.")
    return user


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def list_users(session: Session, params: PageParams) -> tuple[Sequence[User], int]:
    return fetch_page(session, User, [], [User.id.asc()], params)


def create_user(session: Session, data: UserCreate) -> User:
    if find_by_email(session, data.email) is not None:
        raise AppError(409, f"An account with the email {data.email} already exists.")
    now = utcnow()
    user = User(
        email=data.email.lower(),
        display_name=data.display_name,
        role=data.role,
        password_hash=hash_password(data.password),
        is_active=True,
        token_version=0,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _other_active_admins(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN, User.is_active.is_(True), User.id != user.id)
        )
        or 0
    )


def update_user(session: Session, user: User, data: UserUpdate) -> User:
    changes = data.model_dump(exclude_unset=True)
    stops_being_admin = (
        user.role == Role.ADMIN
        and user.is_active
        and (changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active", True) is False)
    )
    if stops_being_admin and _other_active_admins(session, user) == 0:
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
        user.password_hash = hash_password(changes["password"])
        user.token_version += 1  # a new password ends every session opened with the old one
    if changes:
        user.updated_at = utcnow()
        session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active account with this email and password, or None. An unknown email costs a hash check too."""
    user = find_by_email(session, email)
    if not verify_password(password, user.password_hash if user else None):
        return None
    if not user or not user.is_active:
        return None
    return user
