"""What differs between databases: text (utf8mb4, lengths in characters), strict mode, CHECK constraints, UTC times.

Tests that use `client` run on SQLite and MySQL/MariaDB; the ones about MySQL's own settings run on MySQL only.
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from app.models import Incident, Severity, Status
from tests.api.helpers import (
    API,
    TIME_KEYS,
    UTC_ISO,
    as_stored,
    assert_invalid,
    count_incidents,
    insert_incidents,
    list_ids,
    list_page,
    make_incident,
    stored_incident,
)
from tests.conftest import run_async

# MySQL's own settings: these run on MySQL only (SQLite ignores VARCHAR lengths and has no sql_mode).
mysql_only = pytest.mark.parametrize("database_url", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)


# --- text -----------------------------------------------------------------------------------------------------


def test_emoji_and_other_multibyte_text_round_trip(client, db_session):
    title = "Checkout down 🔥🚀 (naïve café, 日本語)"
    service = "pay-ñ-服务-𝔘𝔫𝔦"
    description = "👩‍💻 on call; 🇫🇷 region; 𝄞 music service; emoji: 😀😃😄"

    created = make_incident(client, title=title, service=service, description=description)

    assert (created["title"], created["service"], created["description"]) == (title, service, description)
    assert client.get(f"/api/incidents/{created['id']}").json() == created
    assert stored_incident(db_session, created["id"]) == as_stored(created)


def test_emoji_round_trip_through_the_audit_trail_and_accounts(client, auth_headers, db_session):
    title, note, name = "Checkout down 🔥 café", "Rolled back 🚀 (naïve)", "Zoë 😀 Tester"
    created = make_incident(client, title=title)
    client.post(f"/api/incidents/{created['id']}/notes", json={"text": note})
    user = client.post(
        "/api/users",
        headers=auth_headers("admin"),
        json={"email": "zoe@example.com", "display_name": name, "role": "viewer", "password": "emoji passphrase"},
    )

    events = client.get(f"/api/incidents/{created['id']}/events").json()["items"]
    assert events[0]["changes"]["title"] == {"old": None, "new": title}
    assert events[1]["note"] == note
    assert user.status_code == 201, user.text
    assert client.get(f"/api/users/{user.json()['id']}", headers=auth_headers("admin")).json()["display_name"] == name


def test_lengths_are_counted_in_characters_not_bytes(client, db_session):
    title, service = "🔥" * 200, "🚀" * 100  # 800 and 400 bytes in UTF-8

    created = make_incident(client, title=title, service=service)

    stored = stored_incident(db_session, created["id"])
    assert (created["title"], created["service"]) == (title, service)
    assert (stored["title"], stored["service"]) == (title, service)


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [({"title": "🔥" * 201}, ("body", "title")), ({"service": "🚀" * 101}, ("body", "service"))],
    ids=["title-201-emoji", "service-101-emoji"],
)
def test_one_emoji_too_many_is_refused(client, db_session, overrides, loc):
    response = client.post(API, json={"title": "t", "service": "s", "severity": "SEV3", **overrides})

    assert_invalid(response, loc)
    assert count_incidents(db_session) == 0


def test_an_emoji_search_matches_only_that_emoji(client, db_session):
    fire, rocket, _plain = insert_incidents(
        db_session, {"title": "🔥 on fire"}, {"title": "🚀 launch went wrong"}, {"title": "no emoji here"}
    )

    assert list_ids(client, search="🔥") == [fire]
    assert list_ids(client, search="🚀 launch", sort_by="id") == [rocket]


def test_search_is_case_insensitive_on_both_databases(client, db_session):
    ids = insert_incidents(db_session, {"title": "Fred's deploy", "service": "API-Gateway"}, {"title": "other"})

    for search in ("fred", "FRED", "fReD'S", "api-gateway", "GATEWAY"):
        body = list_page(client, search=search)
        assert ([item["id"] for item in body["items"]], body["total"]) == ([ids[0]], 1), search


@pytest.mark.parametrize("search", ["éclair", "ÉCLAIR", "CAFÉ", "ΣΦΆΛΜΑ"])
def test_search_folds_the_case_of_non_ascii_letters(client, db_session, search):
    ids = insert_incidents(db_session, {"title": "Éclair café outage"}, {"title": "σφάλμα"})
    expected = [ids[1]] if search == "ΣΦΆΛΜΑ" else [ids[0]]

    assert list_ids(client, search=search) == expected


# --- time -----------------------------------------------------------------------------------------------------


def test_timestamps_are_utc_iso_8601_with_offset_and_keep_microseconds(client, db_session):
    before = datetime.now(UTC)
    created = make_incident(client, status="RESOLVED")
    after = datetime.now(UTC)

    for key in TIME_KEYS:
        assert UTC_ISO.match(created[key]), (key, created[key])
    stored = stored_incident(db_session, created["id"])
    assert before <= stored["created_at"] <= after
    assert stored == as_stored(created)  # microseconds survive the database (DATETIME(6) on MySQL)
    assert client.get(f"/api/incidents/{created['id']}").json() == created


def test_timestamps_are_stored_as_utc(client, db_session):
    created = make_incident(client)

    db_session.rollback()
    raw = db_session.execute(text("SELECT created_at FROM incidents WHERE id = :id"), {"id": created["id"]}).scalar()
    if isinstance(raw, str):  # SQLite hands back the stored text
        raw = datetime.fromisoformat(raw)
    assert raw.replace(tzinfo=UTC) == as_stored(created)["created_at"]


# --- constraints ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "t" * 201), ("service", "s" * 101), ("title", "🔥" * 201)],
    ids=["title-201", "service-101", "title-201-emoji"],
)
@mysql_only
def test_strict_mode_refuses_an_overlong_orm_insert(client, db_session, field, value):
    now = datetime.now(UTC)
    fields = {"title": "t", "service": "s", "severity": Severity.SEV1, "status": Status.OPEN, field: value}
    db_session.add(Incident(**fields, created_at=now, updated_at=now))

    with pytest.raises((DataError, OperationalError)):
        db_session.flush()

    db_session.rollback()
    assert count_incidents(db_session) == 0
    assert list_page(client)["total"] == 0  # nothing truncated and stored


@pytest.mark.parametrize(
    ("column", "value"),
    [("severity", "SEV9"), ("severity", ""), ("status", "CLOSED"), ("status", "")],
)
def test_unknown_enum_values_are_refused_by_the_database(client, db_session, column, value):
    row = {"title": "t", "service": "s", "severity": "SEV1", "status": "OPEN", column: value}
    insert = text(
        "INSERT INTO incidents (title, service, severity, status, created_at, updated_at) "
        "VALUES (:title, :service, :severity, :status, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )

    with pytest.raises((IntegrityError, OperationalError)):
        db_session.execute(insert, row)

    db_session.rollback()
    assert count_incidents(db_session) == 0


# --- MySQL settings -------------------------------------------------------------------------------------------


@mysql_only
def test_mysql_table_and_text_columns_are_utf8mb4(db_session):
    table_collation = db_session.execute(
        text(
            "SELECT table_collation FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name = 'incidents'"
        )
    ).scalar_one()
    charsets = dict(
        db_session.execute(
            text(
                "SELECT column_name, character_set_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name = 'incidents' AND character_set_name IS NOT NULL"
            )
        ).all()
    )

    assert table_collation.startswith("utf8mb4_")
    assert charsets == dict.fromkeys(("title", "service", "severity", "status", "description"), "utf8mb4")


@mysql_only
def test_mysql_email_columns_compare_bytes(db_session):
    """The emails the API looks up are binary-collated: utf8mb4_unicode_ci would match `ädmin@` to `admin@`."""
    collations = db_session.execute(
        text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND column_name = 'email' ORDER BY table_name"
        )
    ).all()

    assert [tuple(row) for row in collations] == [
        ("login_failures", "email", "utf8mb4_bin"),
        ("users", "email", "utf8mb4_bin"),
    ]


@mysql_only
def test_mysql_every_table_is_innodb_and_utf8mb4(db_session):
    """InnoDB, or the foreign keys that keep the audit trail would be parsed and ignored."""
    tables = dict(
        db_session.execute(
            text(
                "SELECT table_name, CONCAT(engine, ' ', table_collation) FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name <> 'alembic_version'"
            )
        ).all()
    )

    search_index = {"search_texts", "search_trigrams"}
    others = {"incidents", "incident_counts", "users", "incident_events", "login_failures", "download_tickets"}
    others |= {"idempotency_keys", "live_events", "live_sequence"}
    others |= {"incident_open_counts", "incident_week_counts", "incident_duration_counts"}
    others |= {"incident_severity_duration_counts", "incident_service_duration_counts"}
    assert set(tables) == others | search_index
    for name, engine_and_collation in tables.items():
        engine, collation = engine_and_collation.split(" ")
        assert (engine, collation.split("_")[0]) == ("InnoDB", "utf8mb4"), name


@mysql_only
def test_mysql_connections_are_strict_utc_and_utf8mb4(app):
    """The API's own (asyncio) connections."""

    async def session_settings():
        try:
            async with app.state.engine.connect() as connection:
                query = text("SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.character_set_connection")
                return (await connection.execute(query)).one()
        finally:
            await app.state.engine.dispose()  # its connections belong to this event loop

    sql_mode, time_zone, charset = run_async(session_settings())

    assert {"STRICT_ALL_TABLES", "STRICT_TRANS_TABLES"} & set(sql_mode.split(","))
    assert time_zone == "+00:00"
    assert charset == "utf8mb4"
