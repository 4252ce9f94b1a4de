"""Accounts that exist before anyone can sign in: the first admin from the settings, and the demo accounts that
`make run` creates on an empty database. Also the production start-up check."""

from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Role, User
from app.schemas import UserCreate, normalize_email
from app.security import verify_password
from app.services import users as user_service


@dataclass(frozen=True)
class DemoAccount:
    email: str
    display_name: str
    role: Role
    password: str


# Documented in the README; with APP_ENV=production the app refuses to start while any of them exists.
DEMO_ACCOUNTS = (
    DemoAccount("admin@example.com", "Ada Admin", Role.ADMIN, "admin-demo-password"),
    DemoAccount("responder@example.com", "Rory Responder", Role.RESPONDER, "responder-demo-password"),
    DemoAccount("viewer@example.com", "Vic Viewer", Role.VIEWER, "viewer-demo-password"),
)


async def ensure_first_admin(session: AsyncSession, settings: Settings) -> User | None:
    """Create FIRST_ADMIN_EMAIL as an admin when no account has that email. Returns the account it created."""
    if not settings.first_admin_email:
        return None
    if await user_service.find_by_email(session, normalize_email(settings.first_admin_email)) is not None:
        return None
    if settings.first_admin_password is None:
        raise RuntimeError("FIRST_ADMIN_EMAIL is set but FIRST_ADMIN_PASSWORD is not.")
    data = UserCreate(
        email=settings.first_admin_email,
        display_name="Administrator",
        role=Role.ADMIN,
        password=settings.first_admin_password.get_secret_value(),
    )
    return await user_service.create_user(session, data)


async def ensure_demo_accounts(session: AsyncSession) -> list[DemoAccount]:
    """On a database with no accounts at all, create one demo account per role. Returns those created."""
    if await session.scalar(select(func.count()).select_from(User)):
        return []
    for account in DEMO_ACCOUNTS:
        data = UserCreate(
            email=account.email, display_name=account.display_name, role=account.role, password=account.password
        )
        await user_service.create_user(session, data)
    return list(DEMO_ACCOUNTS)


async def existing_demo_accounts(session: AsyncSession) -> list[str]:
    emails = [account.email for account in DEMO_ACCOUNTS]
    return list(await session.scalars(select(User.email).where(User.email.in_(emails))))


async def usable_demo_accounts(session: AsyncSession) -> list[DemoAccount]:
    """The demo accounts that still sign in with their documented password: active, and the password unchanged."""
    emails = [account.email for account in DEMO_ACCOUNTS]
    users = {user.email: user for user in await session.scalars(select(User).where(User.email.in_(emails)))}
    return [
        account
        for account in DEMO_ACCOUNTS
        if (user := users.get(account.email)) is not None
        and user.is_active
        and await to_thread.run_sync(verify_password, account.password, user.password_hash)
    ]


async def start_up(session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """At application start: create the first admin if configured; in production, refuse unsafe settings."""
    if not settings.first_admin_email and settings.app_env != "production":
        return
    async with session_factory() as session, session.begin():
        await ensure_first_admin(session, settings)
        problems = settings.production_problems() if settings.app_env == "production" else []
        if settings.app_env == "production" and (demo := await existing_demo_accounts(session)):
            problems.append(f"demo accounts exist ({', '.join(demo)}); deactivate them and change their emails")
    if problems:
        raise RuntimeError("Refusing to start with APP_ENV=production: " + "; ".join(problems) + ".")
