"""The seed script: realistic, consistent incidents; idempotent unless forced; runs on both databases."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

import seed as seed_script
from app import cli
from app.config import get_settings
from app.database import utcnow
from app.models import EventAction, Incident, IncidentCount, IncidentEvent, Role, SearchText, Severity, Status, User
from tests.conftest import clear_tables

NOW = datetime(2026, 11, 27, 3, 11, 10, 120398, tzinfo=UTC)


@pytest.fixture
def url(db_engine: Engine) -> str:
    clear_tables(db_engine)
    yield db_engine.url.render_as_string(hide_password=False)
    clear_tables(db_engine)


@pytest.fixture
def session(db_engine, url):
    with Session(db_engine) as session:
        yield session


def count(session: Session, model: type = Incident) -> int:
    """The rows now, in a read of its own (so the next read sees what the seed commits meanwhile)."""
    value = session.scalar(select(func.count()).select_from(model))
    session.rollback()
    return value


def add_accounts(session: Session) -> list[int]:
    """A responder, an admin and a viewer; returns the ids of those who may edit."""
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
    return editors


def stored_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_seeds_200_consistent_incidents_into_an_empty_database(url, session):
    before = utcnow()
    assert seed_script.seed(url, 200, rng=random.Random(7)) == 200
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
        assert incident.archived_at is None and incident.archived_by_id is None


def test_adds_nothing_to_a_non_empty_database_unless_forced(url, session):
    assert seed_script.seed(url, 5) == 5
    assert seed_script.seed(url, 5) == 0
    assert count(session) == 5
    assert seed_script.seed(url, 3, force=True) == 3
    assert count(session) == 8
    assert session.scalars(select(Incident.id).order_by(Incident.id)).all() == list(range(1, 9))


def test_count_spans_several_chunks_each_incident_with_its_whole_history(db_engine, url, session):
    indexes = {table: inspect(db_engine).get_indexes(table) for table in ("incidents", "incident_events")}
    done = []
    assert seed_script.seed(url, 30, chunk_size=7, progress=done.append) == 30
    assert done == [7, 14, 21, 28, 30]
    assert {table: inspect(db_engine).get_indexes(table) for table in indexes} == indexes  # built again at the end
    assert count(session) == 30
    incidents = session.scalars(select(Incident)).all()
    expected_events = sum(1 + (i.mitigated_at is not None) + (i.resolved_at is not None) for i in incidents)
    assert count(session, IncidentEvent) == expected_events
    event_ids = session.scalars(select(IncidentEvent.id).order_by(IncidentEvent.id)).all()
    assert event_ids == list(range(1, expected_events + 1))


def test_command_line_refuses_a_count_below_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        seed_script.main(["--count", "0"])
    assert exit_info.value.code == 2
    assert "--count must be at least 1" in capsys.readouterr().err


def test_seeded_incidents_carry_their_history_by_the_accounts_that_may_edit(url, session):
    editors = add_accounts(session)

    seed_script.seed(url, 60, rng=random.Random(3))

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
        assert events[0].actor_id == incident.created_by_id
        assert {event.actor_id for event in events[1:]} <= {incident.updated_by_id}


def test_the_history_reads_back_as_the_app_writes_events(url, session):
    """Every event, read through the ORM, is what the app's services would have recorded for the same change."""
    seed_script.seed(url, 80, rng=random.Random(11))

    for incident in session.scalars(select(Incident)).all():
        events = session.scalars(
            select(IncidentEvent).where(IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id)
        ).all()
        assert events[0].changes == {
            "title": {"old": None, "new": incident.title},
            "service": {"old": None, "new": incident.service},
            "severity": {"old": None, "new": incident.severity.value},
            "description": {"old": None, "new": incident.description},
            "status": {"old": None, "new": "OPEN"},
        }
        moves = [("OPEN", "MITIGATED", "mitigated_at"), ("MITIGATED", "RESOLVED", "resolved_at")]
        for event, (old, new, stamp) in zip(events[1:], moves, strict=False):
            assert event.changes == {
                "status": {"old": old, "new": new},
                stamp: {"old": None, "new": getattr(incident, stamp).isoformat()},
            }
        assert {(event.note, event.request_id) for event in events} == {(None, None)}


def test_the_rows_read_back_through_the_orm_as_they_were_built(url, session):
    """Times (UTC, to the microsecond), enums, JSON and NULLs survive the database's own bulk path unchanged."""
    seed_script.seed(url, 40, rng=random.Random(5), now=NOW)

    incidents, events = seed_script.Rows(random.Random(5), NOW, [None]).chunk(1, 1, 40)
    stored = session.scalars(select(Incident).order_by(Incident.id)).all()
    assert [
        (i.id, i.title, i.service, i.severity, i.status, i.description, i.created_at, i.updated_at,
         i.mitigated_at, i.resolved_at, i.created_by_id, i.updated_by_id, i.archived, i.status_rank)
        for i in stored
    ] == [
        (*row[:3], Severity(row[3]), Status(row[4]), row[5], *map(stored_time, row[6:10]), *row[10:12], False,
         Status(row[4]).rank)
        for row in incidents
    ]  # fmt: skip
    # What the list reads beside the rows: the counts per group, and the search index.
    assert session.scalar(select(func.sum(IncidentCount.total))) == 40
    assert session.scalar(select(func.count()).select_from(SearchText)) == len(
        {row[1] for row in incidents} | {row[2] for row in incidents}
    )
    stored_events = session.scalars(select(IncidentEvent).order_by(IncidentEvent.id)).all()
    assert [(e.id, e.incident_id, e.actor_id, e.action, e.changes, e.created_at) for e in stored_events] == [
        (*row[:3], EventAction(row[3]), json.loads(row[4]), stored_time(row[5])) for row in events
    ]
    assert any(i.description is None for i in stored) and any(i.resolved_at is None for i in stored)


def test_the_same_random_seed_gives_the_same_data(db_engine, url, session):
    def snapshot() -> list[tuple]:
        return (
            session.execute(select(*Incident.__table__.columns).order_by(Incident.id)).all()
            + session.execute(select(*IncidentEvent.__table__.columns).order_by(IncidentEvent.id)).all()
        )

    seed_script.seed(url, 25, rng=random.Random(42), now=NOW, chunk_size=10)
    first = snapshot()
    session.commit()
    clear_tables(db_engine)
    seed_script.seed(url, 25, rng=random.Random(42), now=NOW)
    assert snapshot() == first
    assert len(first) == 25 + count(session, IncidentEvent)


ODD = "Tab\there, newline\nthere, back\\slash, \"quotes\" and 'apostrophes', Ünïcödé, 🚨 and \\N"


def assert_odd_values_survive(url: str, session, writer) -> None:
    """The writer takes any text: tabs, newlines, backslashes, quotes, accents, emoji; None is NULL."""
    row = (1, ODD, "svc-é", "SEV1", "OPEN", None, "2026-11-27 03:11:10.000000", "2026-11-27 03:11:10.000001",
           None, None, None, None, 0, 0)  # fmt: skip
    engine = seed_script.seed_engine(url)
    with engine.connect() as connection:
        writer(connection, "incidents", seed_script.INCIDENT_COLUMNS, [row])
        connection.commit()
    engine.dispose()
    incident = session.get(Incident, 1)
    assert (incident.title, incident.service, incident.description, incident.mitigated_at) == (ODD, "svc-é", None, None)
    assert incident.created_at == datetime(2026, 11, 27, 3, 11, 10, tzinfo=UTC)
    assert incident.updated_at == datetime(2026, 11, 27, 3, 11, 10, 1, tzinfo=UTC)


def test_odd_values_survive_the_insert_path(url, session):
    assert_odd_values_survive(url, session, seed_script.insert_rows)


# LOAD DATA is MySQL's: on SQLite the seed always inserts.
@pytest.mark.parametrize("database_url", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_odd_values_survive_load_data(url, session):
    assert_odd_values_survive(url, session, seed_script.load_rows)


def test_a_value_holding_a_separator_is_refused():
    with pytest.raises(ValueError, match="separator"):
        seed_script.separated([(1, f"a{seed_script.FIELD}b")])


def test_rows_added_while_seeding_stop_it_clearly_and_the_indexes_come_back(db_engine, url, session):
    indexes = {table: inspect(db_engine).get_indexes(table) for table in ("incidents", "incident_events")}

    def someone_else_adds_an_incident(added: int) -> None:
        with Session(db_engine) as other, other.begin():
            other.add(Incident(title="Concurrent", service="api", severity=Severity.SEV2))

    with pytest.raises(RuntimeError, match="added while seeding"):
        seed_script.seed(url, 30, chunk_size=10, progress=someone_else_adds_an_incident)
    assert count(session) == 11  # the first chunk, then the other incident; nothing after it
    assert {table: inspect(db_engine).get_indexes(table) for table in indexes} == indexes


def test_without_accounts_the_history_has_no_actor(url, session):
    seed_script.seed(url, 10, rng=random.Random(5))

    assert count(session, IncidentEvent) >= 10
    assert session.scalars(select(IncidentEvent.actor_id).distinct()).all() == [None]
    assert session.scalars(select(Incident.created_by_id).distinct()).all() == [None]


@pytest.mark.parametrize(
    "at", [datetime(2026, 11, 27, 3, 11, 10, 120398), datetime(2026, 1, 1), datetime(2026, 12, 31, 23, 59, 59, 999999)]
)
def test_times_are_written_as_the_app_writes_them(at):
    rows = seed_script.Rows(random.Random(1), NOW, [None])
    stamp = rows.stamp((at - datetime(1970, 1, 1)) // timedelta(microseconds=1))
    assert stamp == at.isoformat(" ", "microseconds")  # SQLAlchemy's SQLite DATETIME; MySQL reads it as DATETIME(6)
    assert rows.iso(stamp) == at.replace(tzinfo=UTC).isoformat()  # what audit.diff puts into `changes`


def test_make_run_seeds_200_into_an_empty_database_only(url, session, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        cli.seed_if_empty()
        cli.seed_if_empty()
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().out == "Seeded 200 incidents.\nDatabase already has incidents; not seeding.\n"
    assert count(session) == 200


def test_a_later_id_is_a_later_incident_across_chunks(url, session):
    """As in the app, ids follow creation times, so the list's "oldest first" (by id) is oldest first here too."""
    seed_script.seed(url, 50, rng=random.Random(7), now=NOW, chunk_size=20)

    created = session.scalars(select(Incident.created_at).order_by(Incident.id)).all()
    assert len(created) == 50
    assert created == sorted(created)
    assert NOW - timedelta(days=90) <= created[0].replace(tzinfo=NOW.tzinfo) and created[-1] < NOW
