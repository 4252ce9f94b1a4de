"""CSV export: `GET /api/incidents/export` and `GET /api/audit/export`, the download tickets that let a browser
fetch them, and the audit event every export writes. On both databases."""

import csv
import io
import re
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, literal, null, select, text, update
from sqlalchemy.orm import Session

from app.models import DownloadTicket, Incident, Role, User
from app.services import export as export_service
from app.services import incidents as incident_service
from app.services.search import rebuild_search_index
from tests.api.helpers import (
    BASE_TIME,
    assert_invalid,
    assert_problem,
    insert_events,
    insert_incident,
    insert_incidents,
    list_page,
    stored_events,
)

EXPORT = "/api/incidents/export"
AUDIT_EXPORT = "/api/audit/export"
TICKETS = "/api/download-tickets"
HEADER = (
    "id,title,service,severity,status,description,created_at,updated_at,mitigated_at,resolved_at,created_by,updated_by,"
    "commander"
)
FILENAME = re.compile(r'^attachment; filename="(incidents|audit)-\d{8}T\d{6}Z\.csv"$')
AUDIT_HEADER = "id,created_at,action,incident_id,actor_id,actor,changes,note,details,request_id"


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def export(client: TestClient, path: str = EXPORT, **params: Any) -> list[list[str]]:
    """The export's rows (the header first), after checking the answer is a CSV download."""
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert FILENAME.match(response.headers["content-disposition"]), response.headers["content-disposition"]
    assert response.content.endswith(b"\r\n")
    return csv_rows(response.content)


def exported_ids(client: TestClient, **params: Any) -> list[int]:
    return [int(row[0]) for row in export(client, **params)[1:]]


def walked_ids(client: TestClient, **params: Any) -> list[int]:
    """The ids the list shows for the same parameters, walking every page."""
    ids: list[int] = []
    for page in range(1, 100):
        body = list_page(client, **params, page=page, limit=7)
        ids += [item["id"] for item in body["items"]]
        if page >= body["pages"]:
            return ids
    raise AssertionError("too many pages")


def by_name(session: Session, name: str) -> int:
    return session.scalar(select(User.id).where(User.display_name == name))


# --- the file ------------------------------------------------------------------------------------------------


def test_one_incident_exactly(clients, db_session, accounts):
    responder, admin, viewer = accounts[Role.RESPONDER], accounts[Role.ADMIN], accounts[Role.VIEWER]
    incident_id = insert_incident(
        db_session,
        title="Checkout latency",
        service="payments-api",
        severity="SEV2",
        status="RESOLVED",
        description="p99 doubled",
        created_at=BASE_TIME,
        updated_at=BASE_TIME + timedelta(hours=1),
        mitigated_at=(BASE_TIME + timedelta(minutes=5)).replace(microsecond=0),
        resolved_at=BASE_TIME + timedelta(minutes=30, microseconds=-123450),
        created_by_id=responder.id,
        updated_by_id=admin.id,
        commander_id=viewer.id,
    )

    response = clients[Role.VIEWER].get(EXPORT)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert FILENAME.match(response.headers["content-disposition"])
    assert (
        response.content
        == (
            f"{HEADER}\r\n"
            f"{incident_id},Checkout latency,payments-api,SEV2,RESOLVED,p99 doubled,2024-01-01T12:00:00.123456Z,"
            "2024-01-01T13:00:00.123456Z,2024-01-01T12:05:00.000000Z,2024-01-01T12:30:00.000006Z,"
            "Responder Tester,Admin Tester,Viewer Tester\r\n"
        ).encode()
    )


def test_empty_cells_for_nulls_and_only_a_header_when_nothing_matches(client, db_session):
    incident_id = insert_incident(db_session, title="Quiet", description=None)

    assert export(client) == [
        HEADER.split(","),
        [
            str(incident_id),
            "Quiet",
            "seed-service",
            "SEV3",
            "OPEN",
            "",
            "2024-01-01T12:00:00.123456Z",
            "2024-01-01T12:00:00.123456Z",
            "",
            "",
            "",
            "",
            "",
        ],
    ]
    assert client.get(EXPORT, params={"search": "nothing like it"}).content == f"{HEADER}\r\n".encode()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("a, b", b'"a, b"'),
        ('say "hi"', b'"say ""hi"""'),
        ("line\nbreak", b'"line\nbreak"'),
        ("carriage\rreturn", b'"carriage\rreturn"'),
        ("windows\r\nline", b'"windows\r\nline"'),
        ('all, "of\r\nthem"', b'"all, ""of\r\nthem"""'),
        ("plain text", b"plain text"),
        ("émoji 🚨 ünïcode", "émoji 🚨 ünïcode".encode()),
    ],
)
def test_rfc_4180_quoting(client, db_session, value, cell):
    insert_incident(db_session, title=value, service=value, description=value)

    response = client.get(EXPORT)

    assert response.status_code == 200
    line = response.content.split(b"\r\n", 1)[1]
    assert line.startswith(b"%d," % db_session.scalar(select(Incident.id)) + cell + b"," + cell + b",SEV3,OPEN," + cell)
    assert csv_rows(response.content)[1][1:3] == [value, value]
    assert csv_rows(response.content)[1][5] == value


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_starts_like_a_formula_is_neutralised(client, db_session, accounts, start):
    with Session(db_session.get_bind()) as session, session.begin():
        session.execute(update(User).values(display_name=start + "cmd|' /C calc'!A0"))
    insert_incident(
        db_session,
        title=f"{start}1+1",
        service=f"{start}svc",
        description=f'{start}HYPERLINK("http://x")',
        created_by_id=accounts[Role.RESPONDER].id,
        updated_by_id=accounts[Role.ADMIN].id,
        commander_id=accounts[Role.VIEWER].id,
    )

    (row,) = export(client)[1:]

    assert row[1] == f"'{start}1+1"
    assert row[2] == f"'{start}svc"
    assert row[5] == f'\'{start}HYPERLINK("http://x")'
    assert row[10] == row[11] == row[12] == f"'{start}cmd|' /C calc'!A0"


TRICKY_TEXT = ("", "plain", "a,b", 'q"q', '"', '""', "\n", "\r", "\r\n", 'a\r\nb,"c"', " lead", "trail ", "é🚨")
TRICKY_STARTS = ("=x", "'=x", "-", "\t\t", "+", "@@")
# Look-alikes that a case- and accent-insensitive collation could take for `=`, `"` or `,`: they are plain text.
LOOK_ALIKES = ("＝x", "＂q", "a，b", "﹣x", "＠x", "＋x")


@pytest.mark.parametrize("value", TRICKY_TEXT + TRICKY_STARTS + LOOK_ALIKES)
def test_a_text_cell_is_written_as_the_csv_module_writes_it(db_session, value):
    """The cell the database writes (`text_cell`) is the csv module's RFC 4180 cell of the neutralised value."""
    neutralised = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerow(["x", neutralised, "y"])

    cell = db_session.scalar(select(export_service.text_cell(literal(value))))

    assert f"x,{cell},y\r\n" == expected.getvalue()
    assert csv_rows(f"x,{cell},y\r\n".encode()) == [["x", neutralised, "y"]]


def test_a_null_text_cell_is_empty(db_session):
    assert db_session.scalar(select(export_service.text_cell(null()))) == ""


def test_only_the_first_character_counts(client, db_session):
    insert_incident(db_session, title="a=1", service="x-y", description=" =spaced")

    (row,) = export(client)[1:]

    assert [*row[1:3], row[5]] == ["a=1", "x-y", " =spaced"]


def test_bom_only_when_asked(client, db_session):
    insert_incident(db_session)

    with_bom = client.get(EXPORT, params={"bom": "true"}).content
    without = client.get(EXPORT).content

    assert with_bom.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    assert without.startswith(HEADER.encode() + b"\r\n")
    assert with_bom[3:] == without


# --- the same incidents as the list --------------------------------------------------------------------------


@pytest.fixture
def varied(db_session, accounts) -> list[int]:
    """Twenty-four incidents across every severity and status, with ties on the times, and four archived."""
    rows = []
    for n in range(24):
        rows.append(
            {
                "title": f"{['Disk', 'cache', 'Latency', 'DNS'][n % 4]} issue {n % 5}",
                "service": ["payments-api", "search", "edge"][n % 3],
                "severity": f"SEV{n % 4 + 1}",
                "status": ["OPEN", "MITIGATED", "RESOLVED"][n % 3],
                "created_at": BASE_TIME + timedelta(minutes=n // 3),  # ties of three
                "updated_at": BASE_TIME + timedelta(minutes=(n * 7) % 5),
                "archived_at": BASE_TIME if n % 5 == 4 else None,
            }
        )
    return insert_incidents(db_session, *rows)


LIST_VIEWS = [
    {},
    {"severity": ["SEV1", "SEV3"]},
    {"status": "MITIGATED"},
    {"severity": "SEV2", "status": ["OPEN", "RESOLVED"]},
    {"search": "CACHE"},
    {"search": "a", "sort_by": "title", "sort_order": "asc"},
    *(
        {"sort_by": column, "sort_order": order}
        for column in export_service.INCIDENT_COLUMNS[:5]
        for order in ("asc", "desc")
    ),
    {"sort_by": "created_at", "sort_order": "asc"},
    {"sort_by": "updated_at", "sort_order": "desc"},
    {"sort_by": "updated_at", "sort_order": "asc", "status": "OPEN"},
]


@pytest.mark.parametrize("params", LIST_VIEWS, ids=lambda params: str(params) or "default")
@pytest.mark.parametrize("archived", [False, True], ids=["live", "archived"])
def test_the_same_ids_in_the_same_order_as_walking_the_list(clients, varied, params, archived):
    admin = clients[Role.ADMIN]
    params = {**params, **({"archived": "true"} if archived else {})}

    ids = exported_ids(admin, **params)

    assert ids == walked_ids(admin, **params)
    assert ids  # every view here has matches, so the comparison means something


def test_the_archived_view_adds_archived_at(clients, db_session):
    live = insert_incident(db_session, title="Live")
    archived = insert_incident(db_session, title="Gone", archived_at=BASE_TIME + timedelta(days=1))

    live_rows = export(clients[Role.ADMIN])
    archived_rows = export(clients[Role.ADMIN], archived="true")

    assert live_rows[0] == HEADER.split(",")
    assert [row[0] for row in live_rows[1:]] == [str(live)]
    assert archived_rows[0] == [*HEADER.split(","), "archived_at"]
    assert [(row[0], row[-1]) for row in archived_rows[1:]] == [(str(archived), "2024-01-02T12:00:00.123456Z")]


def test_invalid_parameters_are_refused_naming_them(client):
    response = client.get(EXPORT, params={"sort_by": "password", "severity": "SEV9", "bom": "maybe"})

    assert_invalid(response, ("query", "sort_by"), ("query", "severity"), ("query", "bom"))


def test_paging_parameters_mean_nothing_to_an_export(client, db_session):
    ids = insert_incidents(
        db_session, *({"title": f"n{n}", "created_at": BASE_TIME + timedelta(minutes=n)} for n in range(3))
    )

    assert exported_ids(client, page=2, limit=1) == ids[::-1]


# --- who may export --------------------------------------------------------------------------------------------


def test_who_may_export_what(clients, anonymous, db_session):
    insert_incident(db_session)

    assert_problem(anonymous.get(EXPORT), 401)
    assert anonymous.get(EXPORT).headers["www-authenticate"] == "Bearer"
    assert clients[Role.VIEWER].get(EXPORT).status_code == 200
    assert clients[Role.RESPONDER].get(EXPORT).status_code == 200
    body = assert_problem(clients[Role.VIEWER].get(EXPORT, params={"archived": "true"}), 403)
    assert body["detail"] == "Only admins can see archived incidents."
    assert_problem(clients[Role.RESPONDER].get(EXPORT, params={"archived": "true"}), 403)
    assert clients[Role.ADMIN].get(EXPORT, params={"archived": "true"}).status_code == 200

    assert_problem(anonymous.get(AUDIT_EXPORT), 401)
    assert_problem(clients[Role.VIEWER].get(AUDIT_EXPORT), 403)
    assert_problem(clients[Role.RESPONDER].get(AUDIT_EXPORT), 403)
    assert clients[Role.ADMIN].get(AUDIT_EXPORT).status_code == 200


def test_a_refused_export_writes_no_event(clients, db_session):
    assert_problem(clients[Role.VIEWER].get(EXPORT, params={"archived": "true"}), 403)
    assert_problem(clients[Role.VIEWER].get(AUDIT_EXPORT), 403)

    assert stored_events(db_session) == []


# --- the audit event -------------------------------------------------------------------------------------------


def test_an_export_is_logged_with_the_account_the_filters_and_the_row_count(client, clients, db_session, refs):
    insert_incidents(db_session, {"severity": "SEV1"}, {"severity": "SEV1", "status": "RESOLVED"}, {"severity": "SEV2"})
    incident_id = client.post("/api/incidents/", json={"title": "t", "service": "s", "severity": "SEV1"}).json()["id"]
    before = stored_events(db_session)

    response = clients[Role.VIEWER].get(
        EXPORT,
        params={"severity": "SEV1", "search": "", "sort_by": "title", "bom": "true"},
        headers={"X-Request-ID": "export-1"},
    )

    assert response.status_code == 200
    after = stored_events(db_session)
    assert after[: len(before)] == before
    (event,) = after[len(before) :]
    assert event == {
        "id": event["id"],
        "incident_id": None,
        "action": "exported",
        "actor": refs[Role.VIEWER],
        "changes": None,
        "note": None,
        "details": {
            "export": "incidents",
            "filters": {
                "search": "",
                "severity": ["SEV1"],
                "status": [],
                "commander": None,
                "sort_by": "title",
                "sort_order": "desc",
                "archived": False,
            },
            "rows": 3,
            "completed": True,
        },
        "request_id": "export-1",
        "created_at": event["created_at"],
    }
    # In the audit log, with the same shape as every event; in no incident's timeline.
    audit = clients[Role.ADMIN].get("/api/audit", params={"action": "exported"}).json()
    assert [item["id"] for item in audit["items"]] == [event["id"]]
    assert audit["items"][0]["details"] == event["details"]
    assert audit["items"][0]["incident_id"] is None
    timeline = client.get(f"/api/incidents/{incident_id}/events").json()
    assert [item["action"] for item in timeline["items"]] == ["created"]
    assert clients[Role.ADMIN].get("/api/audit", params={"incident_id": incident_id}).json()["total"] == 1


def test_an_audit_export_is_logged_too(clients, db_session, refs):
    clients[Role.ADMIN].get(AUDIT_EXPORT, params={"action": ["created", "exported"], "actor_id": 7})

    (event,) = stored_events(db_session)
    assert (event["action"], event["actor"], event["incident_id"]) == ("exported", refs[Role.ADMIN], None)
    assert event["details"] == {
        "export": "audit",
        "filters": {
            "actor_id": 7,
            "incident_id": None,
            "action": ["created", "exported"],
            "since": None,
            "until": None,
        },
        "rows": 0,
        "completed": True,
    }


# --- the audit log export --------------------------------------------------------------------------------------


def test_the_audit_log_exactly_newest_first(clients, db_session, accounts):
    incident_id = insert_incident(db_session)
    first, second = insert_events(
        db_session,
        {
            "incident_id": incident_id,
            "action": "updated",
            "actor_id": accounts[Role.RESPONDER].id,
            "changes": {"status": {"old": "OPEN", "new": "RESOLVED"}},
            "note": None,
            "request_id": "r-1",
        },
        {"incident_id": incident_id, "note": '=SUM(A1), "quoted"', "created_at": BASE_TIME + timedelta(seconds=1)},
    )

    response = clients[Role.ADMIN].get(AUDIT_EXPORT)

    assert response.status_code == 200
    assert FILENAME.match(response.headers["content-disposition"]).group(1) == "audit"
    assert (
        response.content
        == (
            f"{AUDIT_HEADER}\r\n"
            f'{second},2024-01-01T12:00:01.123456Z,note_added,{incident_id},,,,"\'=SUM(A1), ""quoted""",,\r\n'
            f"{first},2024-01-01T12:00:00.123456Z,updated,{incident_id},{accounts[Role.RESPONDER].id},Responder Tester,"
            '"{""status"": {""old"": ""OPEN"", ""new"": ""RESOLVED""}}",,,r-1\r\n'
        ).encode()
    )


def test_the_audit_export_neutralises_what_people_and_clients_wrote(clients, db_session, accounts):
    with Session(db_session.get_bind()) as session, session.begin():
        session.execute(update(User).where(User.id == accounts[Role.RESPONDER].id).values(display_name="@name"))
    incident_id = insert_incident(db_session)
    insert_events(
        db_session,
        {"incident_id": incident_id, "note": "+1", "actor_id": accounts[Role.RESPONDER].id, "request_id": "-1-1"},
    )

    (row,) = export(clients[Role.ADMIN], AUDIT_EXPORT)[1:]

    assert (row[5], row[7], row[9]) == ("'@name", "'+1", "'-1-1")


def test_the_audit_export_takes_the_audit_filters(clients, db_session, accounts):
    incident_id, other_id = insert_incident(db_session), insert_incident(db_session)
    responder = accounts[Role.RESPONDER].id
    ids = insert_events(
        db_session,
        {"incident_id": incident_id, "action": "created", "actor_id": responder},
        {"incident_id": incident_id, "created_at": BASE_TIME + timedelta(hours=1), "actor_id": responder},
        {"incident_id": other_id, "created_at": BASE_TIME + timedelta(hours=2)},
        {"incident_id": incident_id, "action": "archived", "created_at": BASE_TIME + timedelta(hours=3)},
    )
    admin = clients[Role.ADMIN]

    def audit_ids(**params: Any) -> list[int]:
        return [int(row[0]) for row in export(admin, AUDIT_EXPORT, **params)[1:]]

    assert audit_ids() == ids[::-1]
    assert audit_ids(actor_id=responder) == [ids[1], ids[0]]
    assert audit_ids(incident_id=other_id) == [ids[2]]
    assert audit_ids(action=["created", "archived"]) == [ids[3], ids[0]]
    assert audit_ids(since="2024-01-01T13:00:00.123456Z", until="2024-01-01T15:00:00.123456Z") == [ids[2], ids[1]]
    assert_invalid(
        admin.get(AUDIT_EXPORT, params={"since": "yesterday", "actor_id": 0}), ("query", "since"), ("query", "actor_id")
    )


# --- download tickets ------------------------------------------------------------------------------------------


def ticket_for(client: TestClient, path: str = EXPORT, query: str = "") -> dict[str, Any]:
    response = client.post(TICKETS, json={"path": path, "query": query})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_ticket_downloads_once_without_a_token(clients, anonymous, db_session):
    incident_id = insert_incident(db_session, severity="SEV1")
    insert_incident(db_session, severity="SEV2")

    body = ticket_for(clients[Role.VIEWER], query="?severity=SEV1&sort_by=id")

    assert set(body) == {"ticket", "url", "expires_at", "expires_in"}
    assert body["expires_in"] == 60
    assert body["url"] == f"{EXPORT}?severity=SEV1&sort_by=id&ticket={body['ticket']}"
    assert len(body["ticket"]) >= 43  # 32 random bytes
    first = anonymous.get(body["url"])
    assert first.status_code == 200, first.text
    assert [row[0] for row in csv_rows(first.content)[1:]] == [str(incident_id)]
    again = anonymous.get(body["url"])
    assert_problem(again, 401)
    assert again.headers["www-authenticate"] == "Bearer"
    # The export is the ticket's account's.
    (event,) = stored_events(db_session)
    assert event["actor"]["display_name"] == "Viewer Tester"


def test_the_query_may_come_in_any_order(clients, anonymous, db_session):
    insert_incident(db_session)
    body = ticket_for(clients[Role.VIEWER], query="status=OPEN&severity=SEV3&severity=SEV1")

    response = anonymous.get(
        EXPORT, params=[("severity", "SEV1"), ("ticket", body["ticket"]), ("severity", "SEV3"), ("status", "OPEN")]
    )

    assert response.status_code == 200, response.text


def test_only_the_ticket_stored_is_its_hash(clients, db_session):
    body = ticket_for(clients[Role.VIEWER])

    stored = db_session.scalars(select(DownloadTicket)).one()
    assert body["ticket"] not in (stored.token_hash, stored.query, stored.path)
    assert re.fullmatch(r"[0-9a-f]{64}", stored.token_hash)


def test_an_expired_ticket_is_401(clients, anonymous, db_engine):
    body = ticket_for(clients[Role.VIEWER])
    with db_engine.begin() as connection:
        connection.execute(update(DownloadTicket).values(expires_at=BASE_TIME))

    assert_problem(anonymous.get(body["url"]), 401)


def test_a_ticket_for_another_path_or_query_is_401(clients, anonymous):
    admin = clients[Role.ADMIN]
    for_incidents = ticket_for(admin, query="severity=SEV1")
    for_audit = ticket_for(admin, AUDIT_EXPORT)

    assert_problem(anonymous.get(AUDIT_EXPORT, params={"ticket": for_incidents["ticket"], "severity": "SEV1"}), 401)
    assert_problem(anonymous.get(EXPORT, params={"ticket": for_audit["ticket"]}), 401)
    assert_problem(anonymous.get(EXPORT, params={"ticket": for_incidents["ticket"], "severity": "SEV2"}), 401)
    assert_problem(anonymous.get(EXPORT, params={"ticket": for_incidents["ticket"]}), 401)
    assert_problem(anonymous.get(f"/api/incidents/{1}", params={"ticket": for_incidents["ticket"]}), 401)
    # Each still works for what it was made for.
    assert anonymous.get(for_incidents["url"]).status_code == 200
    assert anonymous.get(for_audit["url"]).status_code == 200


def test_an_unknown_ticket_or_another_accounts_is_401(clients, anonymous, auth_headers):
    body = ticket_for(clients[Role.VIEWER])

    assert_problem(anonymous.get(EXPORT, params={"ticket": "x" * 43}), 401)
    assert_problem(anonymous.get(body["url"], headers=auth_headers(Role.ADMIN)), 401)
    assert anonymous.get(body["url"], headers=auth_headers(Role.VIEWER)).status_code == 200


def test_a_ticket_dies_with_its_accounts_access(clients, anonymous, db_engine, accounts):
    body = ticket_for(clients[Role.VIEWER])
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == accounts[Role.VIEWER].id).values(is_active=False))

    assert_problem(anonymous.get(body["url"]), 401)


def test_a_ticket_grants_no_more_than_its_account_may(clients, anonymous, db_engine, accounts):
    body = ticket_for(clients[Role.ADMIN], AUDIT_EXPORT)
    with db_engine.begin() as connection:
        connection.execute(update(User).where(User.id == accounts[Role.ADMIN].id).values(role=Role.VIEWER))

    assert_problem(anonymous.get(body["url"]), 403)


def test_a_ticket_is_refused_for_what_the_export_would_refuse(clients, anonymous):
    viewer = clients[Role.VIEWER]

    assert_problem(anonymous.post(TICKETS, json={"path": EXPORT}), 401)
    assert_problem(viewer.post(TICKETS, json={"path": AUDIT_EXPORT}), 403)
    body = assert_problem(viewer.post(TICKETS, json={"path": EXPORT, "query": "archived=true"}), 403)
    assert body["detail"] == "Only admins can see archived incidents."
    assert_invalid(viewer.post(TICKETS, json={"path": "/api/users"}), ("body", "path"))
    assert_invalid(viewer.post(TICKETS, json={"path": EXPORT, "query": "x" * 2001}), ("body", "query"))
    assert_invalid(viewer.post(TICKETS, json={"path": EXPORT, "extra": 1}), ("body", "extra"))
    refused = viewer.post(TICKETS, json={"path": EXPORT, "query": "severity=SEV9&sort_by=password"})
    assert {tuple(error["loc"]) for error in assert_problem(refused, 422)["errors"]} == {
        ("body", "query", "severity", "0"),
        ("body", "query", "sort_by"),
    } or {tuple(map(str, error["loc"])) for error in refused.json()["errors"]} == {
        ("body", "query", "severity", "0"),
        ("body", "query", "sort_by"),
    }


def test_expired_tickets_are_forgotten(clients, db_engine):
    ticket_for(clients[Role.VIEWER])
    with db_engine.begin() as connection:
        connection.execute(update(DownloadTicket).values(expires_at=BASE_TIME))

    ticket_for(clients[Role.VIEWER])

    with Session(db_engine) as session:
        assert session.scalar(select(DownloadTicket.expires_at)) > BASE_TIME
        assert len(session.scalars(select(DownloadTicket)).all()) == 1


# --- a client that goes away -----------------------------------------------------------------------------------


def insert_many(engine: Engine, count: int) -> None:
    rows = [
        {
            "title": f"Incident {n} " + "x" * 80,
            "service": "bulk",
            "severity": "SEV3",
            "status": "OPEN",
            "created_at": BASE_TIME + timedelta(seconds=n),
            "updated_at": BASE_TIME,
        }
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Incident), rows)
        # Written past the services: rebuild what they keep (the counts, the search index).
        for statement in incident_service.recount_statements():
            connection.execute(statement)
        rebuild_search_index(connection)


def download_and_go_away(client: TestClient, headers: dict[str, str]) -> list[bytes]:
    """Ask for the export through the ASGI app as uvicorn would, and go away after the first part of the body (on
    the client's event loop, which the app's pooled connections belong to)."""
    received: list[bytes] = []
    gone = anyio.Event()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": EXPORT,
        "raw_path": EXPORT.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            received.append(message["body"])
            if len(received) == 2:  # the header, then the first rows
                gone.set()

    async def main() -> None:
        with anyio.fail_after(60):
            await client.app(scope, receive, send)

    client.portal.call(main)
    return received


def test_a_client_that_goes_away_stops_the_export_and_it_is_logged_as_cut_off(
    app, client, db_engine, db_session, auth_headers
):
    insert_many(db_engine, 20_000)

    received = download_and_go_away(client, auth_headers(Role.VIEWER))

    assert received[0] == f"{HEADER}\r\n".encode()
    written = b"".join(received).count(b"\r\n") - 1
    (event,) = stored_events(db_session)
    assert event["action"] == "exported"
    assert event["details"]["completed"] is False
    assert 0 < event["details"]["rows"] < 20_000
    assert written <= event["details"]["rows"]
    if db_engine.dialect.name == "mysql":
        # The export's query no longer runs: its connection was dropped, not read to the end.
        with db_engine.connect() as connection:
            running = connection.execute(
                text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT incidents.id,%'")
            ).scalar_one()
        assert running == 0
    # And the API goes on serving.
    assert client.get(EXPORT, params={"search": "Incident 19999 "}).content.count(b"\r\n") == 2
