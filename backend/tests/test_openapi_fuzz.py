"""Schemathesis generates requests for every operation of the OpenAPI schema and checks every answer
against it: status codes and bodies as declared, no 500s, valid data accepted and invalid data refused."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.config import Settings
from app.main import create_app
from tests.conftest import migrate

# The schema is read when the tests are collected, so the app is built then; its database file is made
# (and migrated) only when the tests run, and removed afterwards.
_db_dir = Path(tempfile.mkdtemp(prefix="incident-fuzz-"))
_db_url = f"sqlite:///{_db_dir / 'fuzz.db'}"
app = create_app(Settings(database_url=_db_url, app_env="test"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def fuzz_database():
    migrate(_db_url)
    yield
    app.state.engine.dispose()
    shutil.rmtree(_db_dir, ignore_errors=True)


# Examples per operation; FUZZ_EXAMPLES=500 for a longer hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_schema(case):
    case.call_and_validate()
