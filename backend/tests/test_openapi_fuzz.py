"""Schemathesis generates requests for every operation of the OpenAPI schema and checks every answer
against it: status codes and bodies as declared, no 500s, valid data accepted and invalid data refused.

Two parts: each operation on its own (from its examples, then generated data), and the stateful phase, sequences
of calls chained by the links schemathesis infers from the schema (create an incident, then read, change, archive,
restore and note it; create an account, then read and change it). Both run every check schemathesis has (its
default, all of them), but for the exclusions listed below with their reasons (an archived incident read with
archived=true, or one restored since, is not a deleted resource still served, for one): not_a_server_error,
status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance,
positive_data_acceptance, negative_data_rejection, missing_required_header, unsupported_method,
allow_header_conformance, ignored_auth, and, with what earlier calls of a sequence made, use_after_free,
ensure_resource_availability and object_level_authorization. (max_response_time runs only when given a limit.)

It calls as an admin, who may use every operation; before each call the admin is made active again, in case a
generated request deactivated, demoted it or changed its password. FUZZ_EXAMPLES (examples per operation, default
40) and FUZZ_SCENARIOS (sequences, default 100) make a longer hunt, e.g. FUZZ_EXAMPLES=1000 FUZZ_SCENARIOS=1000."""

import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    positive_data_acceptance,
    unsupported_method,
    use_after_free,
)
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.database import Base, create_db_engine, utcnow
from app.main import create_app
from app.models import IdempotencyKey, LiveSequence, Role, User
from app.security import create_access_token, hash_password
from tests.conftest import migrate

# The schema is read when the tests are collected, so the app is built then; its database file is made
# (and migrated) only when the tests run, and removed afterwards.
_db_dir = Path(tempfile.mkdtemp(prefix="incident-fuzz-"))
_db_url = f"sqlite:///{_db_dir / 'fuzz.db'}"
app = create_app(Settings(database_url=_db_url, app_env="test"))
engine = create_db_engine(_db_url)  # the tests' own connection, beside the app's
# A valid request may be refused 412: a well-formed If-Match that names another version than the incident's (the
# schema can say what an entity tag looks like, not which version an incident is at). The rest is the default list.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}})
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture(scope="module")
def admin_headers():
    migrate(_db_url)
    now = utcnow()
    with Session(engine) as session, session.begin():
        admin = User(
            email="fuzz-admin@example.com",
            display_name="Fuzz Admin",
            role=Role.ADMIN,
            password_hash=hash_password("fuzz-admin-password"),
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(admin)
        session.flush()
        admin_id = admin.id
    token = create_access_token(str(admin_id), app.state.settings.secret_key, timedelta(hours=1))
    yield admin_id, {"Authorization": f"Bearer {token}"}
    engine.dispose()
    shutil.rmtree(_db_dir, ignore_errors=True)


# Checks left out, each with its reason: PATCH and DELETE of /api/incidents/export are PATCH and DELETE of
# /api/incidents/{incident_id} with the id "export", which they refuse with 422 as they refuse /api/incidents/abc
# (rather than a 405), and which the `Allow` of a 405 there names. A list's `cursor` is opaque: only one the list
# handed out (for the same sort) is valid, which no schema can say, so a generated one is refused. Every other
# operation runs every check.
EXCLUDED_CHECKS = {
    ("GET", "/api/incidents/export"): [unsupported_method, allow_header_conformance],
    ("GET", "/api/incidents/"): [positive_data_acceptance],
}


# The values that a boolean query parameter reads as true.
ARCHIVED_TRUE = {"1", "on", "t", "true", "y", "yes"}


# Examples per operation, and sequences of the stateful phase (up to 10 calls each); larger for a longer hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "100"))


def as_a_first_request_of_an_active_admin(admin_id: int) -> None:
    """Before each call: the admin is active, an admin and its token valid again, in case a generated request
    deactivated, demoted it or gave it a new password, and no Idempotency-Key has been seen (the generator reuses
    values with other bodies, which a key seen before rightly refuses with 422, and which the API tests cover)."""
    with Session(engine) as session, session.begin():
        admin = update(User).where(User.id == admin_id)
        session.execute(admin.values(is_active=True, role=Role.ADMIN, token_version=0))
        session.execute(delete(IdempotencyKey))


def names_a_commander(case) -> bool:
    """A body's `commander_id` must be an active user's id, which no schema can say (like a cursor): a generated one
    is rightly refused with 422 when no active account has it. Only those bodies skip the positive-data check; a
    body without one, or with null (no commander), is held to it."""
    return isinstance(case.body, dict) and case.body.get("commander_id") is not None


def names_a_window(case) -> bool:
    """The metrics' window must have `from` before `to` (now when not given) and last at most two years, which no
    schema can say: a generated `from` or `to` is rightly refused with 422 when the window it makes is not one.
    Without either (the default window) the request is held to the positive-data check."""
    return case.path == "/api/metrics" and bool({"from", "to"} & set(case.query or {}))


def excluded_checks(case) -> list:
    excluded = list(EXCLUDED_CHECKS.get((case.operation.method.upper(), case.path), []))
    if names_a_commander(case) or names_a_window(case):
        excluded.append(positive_data_acceptance)
    # The coverage phase can label a case positive while one of its parts (e.g. a header) holds the negative value
    # it made for that part; such a request is rightly refused, so it is not held to the positive-data check.
    if case.meta is not None and any(not part.mode.is_positive for part in case.meta.components.values()):
        excluded.append(positive_data_acceptance)
    # DELETE archives an incident, it does not delete it: an admin who asks with archived=true still reads it, which
    # use_after_free would take for a deleted resource still served. Without archived=true the check holds (404).
    if str((case.query or {}).get("archived", "")).lower() in ARCHIVED_TRUE:
        excluded.append(use_after_free)
    return excluded


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_schema(case, admin_headers):
    admin_id, headers = admin_headers
    as_a_first_request_of_an_active_admin(admin_id)
    case.call_and_validate(headers=headers, excluded_checks=excluded_checks(case))


class Workflows(schema.as_state_machine()):
    """Sequences of calls chained by the links schemathesis infers from the schema (an incident created, then read,
    changed, archived, restored, noted; an account created, then read and changed...), each answer checked."""

    admin: tuple[int, dict[str, str]]

    def setup(self) -> None:
        """Each scenario starts from the same data, the admin alone (and the live feed's position, which only grows):
        Hypothesis replays a scenario to shrink it, and a replay must meet the answers the first run met."""
        # The incidents archived (DELETE) and restored since, so live again: use_after_free, which knows nothing of a
        # restore, would take reading one for a deleted resource still served.
        self.restored: set[str] = set()
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name == User.__tablename__:
                    connection.execute(delete(table).where(table.c.id != self.admin[0]))
                elif table.name != LiveSequence.__tablename__:
                    connection.execute(delete(table))

    def before_call(self, case) -> None:
        as_a_first_request_of_an_active_admin(self.admin[0])

    def get_call_kwargs(self, case) -> dict:
        return {"headers": self.admin[1]}

    def after_call(self, response, case) -> None:
        super().after_call(response, case)
        incident = str((case.path_parameters or {}).get("incident_id"))
        if response.status_code == 200 and case.path == "/api/incidents/{incident_id}/restore":
            self.restored.add(incident)
        elif response.status_code == 200 and case.method.upper() == "DELETE":
            self.restored.discard(incident)

    def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
        excluded = excluded_checks(case)
        if str((case.path_parameters or {}).get("incident_id")) in self.restored:
            excluded.append(use_after_free)
        case.validate_response(
            response,
            additional_checks=additional_checks,
            excluded_checks=excluded,
            headers=self.admin[1],
            transport_kwargs=kwargs or None,
            recorder=self.recorder,
        )


def test_sequences_of_calls_conform_to_the_schema(admin_headers):
    Workflows.admin = admin_headers
    Workflows.run(
        settings=settings(
            max_examples=SCENARIOS, deadline=None, suppress_health_check=list(HealthCheck), stateful_step_count=10
        )
    )
