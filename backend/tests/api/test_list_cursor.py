"""GET /api/incidents/ by keyset cursor: the same rows as paging by number, for every order, and strict cursors."""

import base64
import json
from datetime import timedelta

import pytest

from app.schemas import SORTABLE_COLUMNS
from tests.api.helpers import API, BASE_TIME, assert_invalid, insert_incidents, list_page


def minutes(n: int):
    return BASE_TIME + timedelta(minutes=n)


# 14 rows with ties on every sort column (titles tie across case too, which MySQL's collation calls equal).
TITLES = ["alpha", "Alpha", "beta", "beta", "gamma", "alpha", "delta", "beta", "Gamma", "alpha", "beta", "zeta"]
SERVICES = ["db", "api", "db", "web", "api", "db", "web", "db", "api", "web", "db", "api"]
SEVERITIES = ["SEV1", "SEV2", "SEV3", "SEV4"]
STATUSES = ["OPEN", "MITIGATED", "RESOLVED"]


@pytest.fixture
def tied(db_session) -> list[int]:
    rows = [
        {
            "title": TITLES[i % len(TITLES)],
            "service": SERVICES[(i * 5) % len(SERVICES)],
            "severity": SEVERITIES[(i * 3) % 4],
            "status": STATUSES[(i * 2) % 3],
            "created_at": minutes((i * 7) % 5),
            "updated_at": minutes(10 + (i * 3) % 4),
        }
        for i in range(14)
    ]
    return insert_incidents(db_session, *rows)


def walk_by_cursor(client, **params) -> list[list[int]]:
    pages, cursor = [], None
    for _ in range(100):
        body = list_page(client, **params, **({"cursor": cursor} if cursor else {}))
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor walk did not end")


def walk_by_page(client, **params) -> list[list[int]]:
    first = list_page(client, **params)
    return [[item["id"] for item in list_page(client, **params, page=n)["items"]] for n in range(1, first["pages"] + 1)]


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORTABLE_COLUMNS)
def test_a_cursor_walk_reads_the_same_pages_as_paging_by_number(client, tied, sort_by, sort_order):
    by_cursor = walk_by_cursor(client, sort_by=sort_by, sort_order=sort_order, limit=3)
    by_page = walk_by_page(client, sort_by=sort_by, sort_order=sort_order, limit=3)

    assert by_cursor == by_page
    assert [len(page) for page in by_cursor] == [3, 3, 3, 3, 2]
    assert sorted(i for page in by_cursor for i in page) == sorted(tied)


@pytest.mark.parametrize(
    "filters",
    [{"severity": "SEV1"}, {"status": ["OPEN", "RESOLVED"]}, {"severity": ["SEV2", "SEV4"], "status": "MITIGATED"}],
)
@pytest.mark.parametrize("sort_by", ["created_at", "title", "status"])
def test_a_cursor_walk_keeps_to_the_filters(client, tied, filters, sort_by):
    by_cursor = walk_by_cursor(client, sort_by=sort_by, limit=2, **filters)
    by_page = walk_by_page(client, sort_by=sort_by, limit=2, **filters)

    assert by_cursor == by_page
    assert by_cursor[-1]  # the last page is not an empty one


def test_next_cursor_is_null_on_the_last_page_and_on_an_exactly_full_one(client, db_session):
    insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(4)))

    assert list_page(client, limit=5)["next_cursor"] is None
    assert list_page(client, limit=4)["next_cursor"] is None
    assert list_page(client, limit=3)["next_cursor"] is not None
    assert list_page(client, limit=2, page=2)["next_cursor"] is None


def test_a_cursor_answers_the_true_total_and_echoes_the_page(client, db_session):
    ids = insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(5)))
    first = list_page(client, limit=2)

    body = list_page(client, limit=2, page=2, cursor=first["next_cursor"])

    assert [item["id"] for item in body["items"]] == [ids[2], ids[1]]
    assert (body["total"], body["total_exact"], body["page"], body["pages"]) == (5, True, 2, 3)


def test_a_page_deep_by_number_reads_the_same_rows_as_the_first_pages_do(client, db_session):
    ids = insert_incidents(db_session, *({"created_at": minutes(i % 3)} for i in range(9)))
    newest_first = sorted(ids, key=lambda i: (ids.index(i) % 3, i), reverse=True)

    pages = [[item["id"] for item in list_page(client, limit=2, page=n)["items"]] for n in range(1, 6)]

    assert pages == [newest_first[n : n + 2] for n in range(0, 10, 2)]


def cursor_of(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("params", "cursor"),
    [
        pytest.param({}, "not a cursor", id="garbage"),
        pytest.param({}, "%%%", id="not-base64"),
        pytest.param({}, base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-json"),
        pytest.param({}, cursor_of([1, 2]), id="not-an-object"),
        pytest.param({}, cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00+00:00"}), id="no-id"),
        pytest.param(
            {},
            cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00+00:00", "id": 1, "x": 1}),
            id="extra",
        ),
        pytest.param({}, cursor_of({"k": "title", "o": "desc", "v": "a", "id": 1}), id="another-column"),
        pytest.param({}, cursor_of({"k": "created_at", "o": "asc", "v": "2024-01-01T12:00:00Z", "id": 1}), id="asc"),
        pytest.param({}, cursor_of({"k": "created_at", "o": "desc", "v": "yesterday", "id": 1}), id="not-a-time"),
        pytest.param({}, cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00", "id": 1}), id="naive"),
        pytest.param({}, cursor_of({"k": "created_at", "o": "desc", "v": 5, "id": 1}), id="time-as-number"),
        pytest.param(
            {}, cursor_of({"k": "created_at", "o": "desc", "v": "9999-12-31T23:59:59-14:00", "id": 1}), id="after-9999"
        ),
        pytest.param(
            {}, cursor_of({"k": "created_at", "o": "desc", "v": "0001-01-01T00:00:00+14:00", "id": 1}), id="before-1"
        ),
        pytest.param(
            {}, cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00Z", "id": "1"}), id="id-text"
        ),
        pytest.param(
            {}, cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00Z", "id": True}), id="id-bool"
        ),
        pytest.param({}, cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00Z", "id": 0}), id="id-0"),
        pytest.param(
            {}, cursor_of({"k": "created_at", "o": "desc", "v": "2024-01-01T12:00:00Z", "id": 2**63}), id="id-huge"
        ),
        pytest.param(
            {"sort_by": "id"}, cursor_of({"k": "id", "o": "desc", "v": 3, "id": 3}), id="id-sort-with-a-value"
        ),
        pytest.param(
            {"sort_by": "status"}, cursor_of({"k": "status", "o": "desc", "v": "OPEN", "id": 3}), id="rank-text"
        ),
        pytest.param(
            {"sort_by": "severity"}, cursor_of({"k": "severity", "o": "desc", "v": "SEV9", "id": 3}), id="sev9"
        ),
        pytest.param(
            {"sort_by": "title"}, cursor_of({"k": "title", "o": "desc", "v": "x" * 201, "id": 3}), id="too-long"
        ),
        pytest.param({"sort_by": "title"}, cursor_of({"k": "title", "o": "desc", "v": None, "id": 3}), id="null"),
        pytest.param({}, "A" * 1025, id="longer-than-any-cursor"),
    ],
)
def test_a_malformed_cursor_or_one_for_another_order_is_a_422_naming_cursor(client, db_session, params, cursor):
    insert_incidents(db_session, {"created_at": minutes(1)})

    body = assert_invalid(client.get(API, params={**params, "cursor": cursor}), ("query", "cursor"))

    assert body["detail"] == "Invalid request: query.cursor."


@pytest.mark.parametrize(
    ("made_for", "used_with"), [({"sort_by": "title"}, {"sort_by": "service"}), ({}, {"sort_order": "asc"})]
)
def test_a_cursor_handed_out_for_one_sort_is_refused_for_another(client, db_session, made_for, used_with):
    insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(3)))
    cursor = list_page(client, limit=1, **made_for)["next_cursor"]

    assert_invalid(client.get(API, params={**used_with, "cursor": cursor, "limit": 1}), ("query", "cursor"))


def test_a_cursor_is_url_safe(client, db_session):
    insert_incidents(db_session, *({"title": "ünïcode ✓ / + ? &", "created_at": minutes(i)} for i in range(3)))

    cursor = list_page(client, limit=1, sort_by="title")["next_cursor"]

    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(list_page(client, limit=1, sort_by="title", cursor=cursor)["items"]) == 1


@pytest.mark.parametrize("made_for", [{"sort_by": "title"}, None])
def test_a_search_that_matches_nothing_still_checks_its_cursor(client, db_session, made_for):
    insert_incidents(db_session, *({"title": f"disk {i}", "created_at": minutes(i)} for i in range(3)))
    cursor = list_page(client, limit=1, **made_for)["next_cursor"] if made_for else "A" * 1025

    assert_invalid(client.get(API, params={"search": "zqxjv", "cursor": cursor}), ("query", "cursor"))
    assert list_page(client, search="zqxjv") == {
        "items": [],
        "total": 0,
        "total_exact": True,
        "page": 1,
        "pages": 0,
        "limit": 20,
        "next_cursor": None,
    }
