"""The seed script: realistic, consistent incidents; idempotent unless forced; runs on both databases."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import seed as seed_script
from app.database import utcnow
from app.models import EventAction, Incident, IncidentEvent, Role, Severity, Status, User
from tests.conftest import clear_tables


@pytest.fixture
def session(db_engine):
    clear_tables(db_engine)
    with Session(db_engine) as session:
        yield session
    clear_tables(db_engine)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Incident))


def test_seeds_200_consistent_incidents_into_an_empty_database(session):
    before = utcnow()
    with session.begin():
        added = seed_script.seed(session, 200, rng=random.Random(7))
    assert added == 200
    incidents = session.scalars(select(Incident)).all()
    assert len(incidents) == 200
    assert {i.severity for i in incidents} == set(Severity)
    assert {i.status for i in incidents} == set(Status)
    assert len({i.service for i in incidents}) >= 10
    for incident in incidents:
        assert before - timedelta(days=90, seconds=1) <= incident.created_at <= before
        assert 1 <= len(incident.title) <= 200
        if incident.status == Status.OPEN:
            assert incident.mitigated_at is None and incident.resolved_at is None
        if incident.status == Status.MITIGATED:
            assert incident.created_at <= incident.mitigated_at <= before and incident.resolved_at is None
        if incident.status == Status.RESOLVED:
            assert incident.created_at <= incident.mitigated_at <= incident.resolved_at <= before
        assert incident.updated_at == (incident.resolved_at or incident.mitigated_at or incident.created_at)


def test_adds_nothing_to_a_non_empty_database_unless_forced(session):
    assert seed_script.seed(session, 5) == 5
    session.commit()
    assert seed_script.seed(session, 5) == 0
    session.commit()
    assert count(session) == 5
    assert seed_script.seed(session, 3, force=True) == 3
    session.commit()
    assert count(session) == 8


def test_count_spans_several_batches(session, monkeypatch):
    monkeypatch.setattr(seed_script, "BATCH_SIZE", 7)
    with session.begin():
        assert seed_script.seed(session, 30) == 30
    assert count(session) == 30


def test_command_line_refuses_a_count_below_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        seed_script.main(["--count", "0"])
    assert exit_info.value.code == 2
    assert "--count must be at least 1" in capsys.readouterr().err


def test_seeded_incidents_carry_their_history_by_the_accounts_that_may_edit(session):
    now = utcnow()
    editors = []
    for email, role in (
        ("ed@example.com", Role.RESPONDER),
        ("al@example.com", Role.ADMIN),
        ("vi@example.com", Role.VIEWER),
    ):
        user = User(email=email, display_name=email, role=role, password_hash="x", created_at=now, updated_at=now)
        session.add(user)
        session.flush()
        if role != Role.VIEWER:
            editors.append(user.id)
    session.commit()

    seed_script.seed(session, 60, rng=random.Random(3))
    session.commit()

    for incident in session.scalars(select(Incident)).all():
        events = session.scalars(
            select(IncidentEvent).where(IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id)
        ).all()
        steps = [(event.action, (event.changes or {}).get("status", {}).get("new")) for event in events]
        expected = [(EventAction.CREATED, "OPEN")]
        if incident.mitigated_at:
            expected.append((EventAction.UPDATED, "MITIGATED"))
        if incident.resolved_at:
            expected.append((EventAction.UPDATED, "RESOLVED"))
        assert steps == expected
        assert events[0].created_at == incident.created_at
        assert events[-1].created_at == incident.updated_at
        assert incident.created_by_id in editors and incident.updated_by_id in editors
        assert {event.actor_id for event in events} <= set(editors)


def test_without_accounts_the_history_has_no_actor(session):
    seed_script.seed(session, 10, rng=random.Random(5))
    session.commit()

    assert session.scalar(select(func.count()).select_from(IncidentEvent)) >= 10
    assert session.scalars(select(IncidentEvent.actor_id).distinct()).all() == [None]
    assert session.scalars(select(Incident.created_by_id).distinct()).all() == [None]
