"""API test fixtures: the real app on the real database, emptied after every test, with one account per role.

`client` speaks as the responder (it may read, create and edit); `auth_headers(role)` speaks as another role.
Accounts get a password hash computed once per session and tokens minted directly, so that a test pays for
argon2 only when it signs in through the API.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.config import Settings
from app.database import utcnow
from app.main import create_app
from app.models import Role, User
from app.security import create_access_token, hash_password
from tests.api.helpers import on_the_same_loop
from tests.conftest import clear_tables

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    display_name: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def app(database_url: str) -> FastAPI:
    """The app; its pooled connections are closed when each `client` ends (the app's lifespan)."""
    # No slowing down after a failed sign-in (tests/api/test_auth.py sets it where it tests it): the tests that fail
    # on purpose retry at once.
    settings = Settings(database_url=database_url, app_env="test", cors_origins=[], login_failure_delay_seconds=0)
    return create_app(settings)


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


def add_account(session: Session, app: FastAPI, password_hash: str, role: Role, name: str) -> Account:
    now = utcnow()
    user = User(
        email=f"{name.lower()}@example.com",
        display_name=f"{name} Tester",
        role=role,
        password_hash=password_hash,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    token = create_access_token(str(user.id), app.state.settings.secret_key, timedelta(hours=1))
    return Account(user.id, user.email, user.display_name, role, token)


@pytest.fixture
def accounts(app: FastAPI, db_engine: Engine, password_hash: str) -> dict[Role, Account]:
    """One active account per role, on empty tables."""
    clear_tables(db_engine)
    with Session(db_engine) as session, session.begin():
        return {
            Role.ADMIN: add_account(session, app, password_hash, Role.ADMIN, "Admin"),
            Role.RESPONDER: add_account(session, app, password_hash, Role.RESPONDER, "Responder"),
            Role.VIEWER: add_account(session, app, password_hash, Role.VIEWER, "Viewer"),
        }


@pytest.fixture
def auth_headers(accounts: dict[Role, Account]) -> Callable[[Role | str], dict[str, str]]:
    return lambda role: accounts[Role(role)].headers


@pytest.fixture
def refs(accounts: dict[Role, Account]) -> dict[Role, dict[str, object]]:
    """Each account as the API names a person next to what they did."""
    return {role: {"id": account.id, "display_name": account.display_name} for role, account in accounts.items()}


@pytest.fixture
def client(app: FastAPI, db_engine: Engine, accounts: dict[Role, Account]) -> Iterator[TestClient]:
    """Signed in as the responder."""
    with TestClient(app, headers=accounts[Role.RESPONDER].headers) as test_client:
        yield test_client
    clear_tables(db_engine)


@pytest.fixture
def clients(client: TestClient, accounts: dict[Role, Account]) -> dict[Role, TestClient]:
    """One client per role (the responder's is `client`; the tables are set up and emptied by `client`)."""
    return {
        Role.ADMIN: on_the_same_loop(client, headers=accounts[Role.ADMIN].headers),
        Role.RESPONDER: client,
        Role.VIEWER: on_the_same_loop(client, headers=accounts[Role.VIEWER].headers),
    }


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """A client with no token (the tables are set up and emptied by `client`)."""
    return on_the_same_loop(client)


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session of its own, to look at what the API stored (or did not)."""
    with Session(db_engine) as session:
        yield session
