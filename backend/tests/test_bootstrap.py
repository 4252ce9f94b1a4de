"""Start-up: the first admin from FIRST_ADMIN_EMAIL / FIRST_ADMIN_PASSWORD, and the production checks (no default
SECRET_KEY, no demo accounts). Each test starts the real app (its lifespan) on the suite's databases. Also the demo
accounts that `make run` creates on an empty database and prints at every start."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app import cli
from app.bootstrap import DEMO_ACCOUNTS
from app.config import DEFAULT_SECRET_KEY, Settings, get_settings
from app.database import create_async_db_engine, utcnow
from app.main import create_app
from app.models import Role, User
from app.schemas import UserUpdate
from app.security import hash_password, verify_password
from app.services import users as user_service
from tests.conftest import clear_tables, in_a_thread, run_async

STRONG_SECRET = "a-long-random-production-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
FIRST_PASSWORD = "first admin passphrase"


@pytest.fixture
def empty(db_engine: Engine) -> Iterator[None]:
    clear_tables(db_engine)
    yield
    clear_tables(db_engine)


@contextmanager
def started(database_url: str, **settings: object) -> Iterator[TestClient]:
    """The app started (lifespan run) with these settings; a test environment unless app_env is given."""
    application = create_app(
        Settings(**{"database_url": database_url, "app_env": "test", "cors_origins": [], **settings})
    )
    with TestClient(application) as client:  # its lifespan closes the app's connections, whatever happens
        yield client


def users(db_engine: Engine) -> list[User]:
    with Session(db_engine) as session:
        return list(session.scalars(select(User).order_by(User.id)))


def add_user(db_engine: Engine, email: str, role: Role = Role.VIEWER, *, is_active: bool = True) -> None:
    now = utcnow()
    with Session(db_engine) as session, session.begin():
        session.add(
            User(
                email=email,
                display_name="Someone",
                role=role,
                password_hash=hash_password("whatever-123"),
                is_active=is_active,
                created_at=now,
                updated_at=now,
            )
        )


# --- the first admin ------------------------------------------------------------------------------------------


def test_the_first_admin_is_created_at_start_up_and_can_sign_in(database_url, db_engine, empty):
    with started(database_url, first_admin_email="Boss@Example.com", first_admin_password=FIRST_PASSWORD) as client:
        (admin,) = users(db_engine)
        assert (admin.email, admin.display_name, admin.role, admin.is_active) == (
            "boss@example.com",
            "Administrator",
            Role.ADMIN,
            True,
        )
        assert verify_password(FIRST_PASSWORD, admin.password_hash)

        response = client.post("/api/auth/token", data={"username": "boss@example.com", "password": FIRST_PASSWORD})
        assert response.status_code == 200, response.text
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
        assert me.json() == {
            "id": admin.id,
            "email": "boss@example.com",
            "display_name": "Administrator",
            "role": "admin",
        }


@pytest.mark.parametrize(
    ("first_email", "second_email"),
    [
        ("boss@example.com", "boss@example.com"),
        ("boss@example.com", "BOSS@EXAMPLE.COM"),
        ("boss@example.com", " Boss@Example.com "),
        ("boss@exämple.com", "boss@xn--exmple-cua.com"),  # the IDNA form of the same domain
        ("boss@xn--exmple-cua.com", "BOSS@EXÄMPLE.COM"),
    ],
)
def test_the_first_admin_is_not_created_twice_nor_reset(database_url, db_engine, empty, first_email, second_email):
    with started(database_url, first_admin_email=first_email, first_admin_password=FIRST_PASSWORD):
        pass
    (first,) = users(db_engine)

    with started(database_url, first_admin_email=second_email, first_admin_password="another passphrase"):
        pass

    (again,) = users(db_engine)
    assert (again.id, again.email, again.password_hash) == (first.id, first.email, first.password_hash)
    assert verify_password(FIRST_PASSWORD, again.password_hash)


def test_the_first_admin_is_added_next_to_other_accounts(database_url, db_engine, empty):
    add_user(db_engine, "someone@example.com")

    with started(database_url, first_admin_email="boss@example.com", first_admin_password=FIRST_PASSWORD):
        pass

    assert [(user.email, user.role) for user in users(db_engine)] == [
        ("someone@example.com", Role.VIEWER),
        ("boss@example.com", Role.ADMIN),
    ]


def test_an_email_without_a_password_refuses_to_start(database_url, db_engine, empty):
    with (
        pytest.raises(RuntimeError, match="FIRST_ADMIN_PASSWORD"),
        started(database_url, first_admin_email="boss@example.com"),
    ):
        pytest.fail("the app started")

    assert users(db_engine) == []


@pytest.mark.parametrize("app_env", ["development", "test"])
def test_start_up_alone_creates_no_account(database_url, db_engine, empty, app_env):
    with started(database_url, app_env=app_env) as client:
        assert client.get("/api/health").status_code == 200

    assert users(db_engine) == []


# --- production -----------------------------------------------------------------------------------------------


def test_production_refuses_the_default_secret_key(database_url, db_engine, empty):
    with (
        pytest.raises(RuntimeError, match="SECRET_KEY") as refused,
        started(database_url, app_env="production", secret_key=DEFAULT_SECRET_KEY),
    ):
        pytest.fail("the app started")

    assert "demo accounts" not in str(refused.value)


@pytest.mark.parametrize("is_active", [True, False], ids=["active", "deactivated"])
@pytest.mark.parametrize("demo", DEMO_ACCOUNTS, ids=lambda demo: demo.role.value)
def test_production_refuses_to_start_while_a_demo_account_exists(database_url, db_engine, empty, demo, is_active):
    add_user(db_engine, "someone@example.com")
    add_user(db_engine, demo.email, demo.role, is_active=is_active)

    with (
        pytest.raises(RuntimeError, match="demo accounts") as refused,
        started(database_url, app_env="production", secret_key=STRONG_SECRET),
    ):
        pytest.fail("the app started")

    assert demo.email in str(refused.value)
    assert "SECRET_KEY" not in str(refused.value)


def test_production_names_every_problem_at_once(database_url, db_engine, empty):
    for demo in DEMO_ACCOUNTS:
        add_user(db_engine, demo.email, demo.role)

    with (
        pytest.raises(RuntimeError) as refused,
        started(database_url, app_env="production", secret_key=DEFAULT_SECRET_KEY),
    ):
        pytest.fail("the app started")

    message = str(refused.value)
    assert "SECRET_KEY" in message
    assert "demo accounts" in message
    assert all(demo.email in message for demo in DEMO_ACCOUNTS)


def test_production_starts_with_a_strong_secret_and_no_demo_accounts(database_url, db_engine, empty):
    add_user(db_engine, "someone@example.com", Role.ADMIN)

    with started(database_url, app_env="production", secret_key=STRONG_SECRET) as client:
        assert client.get("/api/health").json() == {"status": "ok", "database": "ok"}

    assert [user.email for user in users(db_engine)] == ["someone@example.com"]


def test_production_starts_on_an_empty_database_and_creates_the_first_admin(database_url, db_engine, empty):
    with started(
        database_url,
        app_env="production",
        secret_key=STRONG_SECRET,
        first_admin_email="boss@example.com",
        first_admin_password=FIRST_PASSWORD,
    ) as client:
        assert client.get("/api/health").status_code == 200

    assert [(user.email, user.role) for user in users(db_engine)] == [("boss@example.com", Role.ADMIN)]


# --- the demo accounts of `make run` --------------------------------------------------------------------------

DEMO_HEADER = "Demo accounts (for trying it out; never in production):"
DEMO_LINES = {
    "admin@example.com": "  admin      admin@example.com        password: admin-demo-password",
    "responder@example.com": "  responder  responder@example.com    password: responder-demo-password",
    "viewer@example.com": "  viewer     viewer@example.com       password: viewer-demo-password",
}


@pytest.fixture
def demo_accounts(database_url, monkeypatch, capsys):
    """`make run`'s demo-account step on the suite's database, with settings from the environment as for the real
    command (overriding any .env); returns what it printed."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("FIRST_ADMIN_EMAIL", "")

    def run(**environment: str) -> str:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        capsys.readouterr()
        in_a_thread(cli.demo_accounts)  # it runs an event loop of its own, as the command does
        return capsys.readouterr().out

    yield run
    get_settings.cache_clear()


def printed(*emails: str) -> str:
    return "\n".join([DEMO_HEADER, *(DEMO_LINES[email] for email in emails)]) + "\n"


def test_an_empty_database_gets_one_demo_account_per_role_and_they_are_printed(db_engine, empty, demo_accounts):
    output = demo_accounts()

    assert output == printed("admin@example.com", "responder@example.com", "viewer@example.com")
    stored = users(db_engine)
    assert [(user.email, user.role, user.is_active) for user in stored] == [
        ("admin@example.com", Role.ADMIN, True),
        ("responder@example.com", Role.RESPONDER, True),
        ("viewer@example.com", Role.VIEWER, True),
    ]
    assert all(
        verify_password(demo.password, user.password_hash) for demo, user in zip(DEMO_ACCOUNTS, stored, strict=True)
    )


def test_a_second_start_prints_the_same_and_creates_nothing(db_engine, empty, demo_accounts):
    first = demo_accounts()
    before = [(user.id, user.email, user.password_hash) for user in users(db_engine)]

    assert demo_accounts() == first
    assert [(user.id, user.email, user.password_hash) for user in users(db_engine)] == before


@pytest.mark.parametrize(
    ("email", "change"),
    [("responder@example.com", {"password": "a password of its own"}), ("admin@example.com", {"is_active": False})],
    ids=["password-changed", "deactivated"],
)
def test_a_demo_account_whose_password_changed_or_that_was_deactivated_is_not_printed(
    database_url, db_engine, empty, demo_accounts, email, change
):
    demo_accounts()
    add_user(db_engine, "boss@example.com", Role.ADMIN)  # so that even the demo admin may be deactivated

    async def change_account() -> None:  # through the service, as an admin's request would
        engine = create_async_db_engine(database_url)
        try:
            async with AsyncSession(engine) as session, session.begin():
                user = await user_service.find_by_email(session, email)
                await user_service.update_user(session, user, UserUpdate(**change))
        finally:
            await engine.dispose()

    run_async(change_account())

    output = demo_accounts()

    assert output == printed(*(other for other in DEMO_LINES if other != email))
    assert len(users(db_engine)) == 4


@pytest.mark.parametrize(
    "environment",
    [{"FIRST_ADMIN_EMAIL": "boss@example.com", "FIRST_ADMIN_PASSWORD": FIRST_PASSWORD}, {"APP_ENV": "production"}],
    ids=["first-admin", "production"],
)
def test_no_demo_account_is_created_or_printed_with_a_first_admin_or_in_production(
    db_engine, empty, demo_accounts, environment
):
    assert demo_accounts(**environment) == ""
    assert users(db_engine) == []
