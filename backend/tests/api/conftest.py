"""API test fixtures: the real app on the real database, emptied after every test."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import create_app
from tests.conftest import clear_tables


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=database_url, app_env="test", cors_origins=[]))
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI, db_engine: Engine) -> Iterator[TestClient]:
    clear_tables(db_engine)
    with TestClient(app) as test_client:
        yield test_client
    clear_tables(db_engine)


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session of its own, to look at what the API stored (or did not)."""
    with Session(db_engine) as session:
        yield session
