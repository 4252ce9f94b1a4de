"""GET /api/incidents/: the page envelope, paging, search, filters and sorting."""

import math
from datetime import timedelta

import pytest

from tests.api.helpers import (
    API,
    BASE_TIME,
    TIME_KEYS,
    as_stored,
    assert_invalid,
    count_incidents,
    insert_incident,
    insert_incidents,
    list_ids,
    list_page,
    make_incident,
    parse_time,
    stored_incident,
)


def minutes(n: int):
    return BASE_TIME + timedelta(minutes=n)


def test_an_empty_list_is_an_empty_page(client):
    response = client.get(API)

    assert response.status_code == 200
    assert response.json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "limit": 20,
        "pages": 0,
        "total_exact": True,
        "next_cursor": None,
    }


@pytest.mark.parametrize("path", ["/api/incidents", "/api/incidents/"])
def test_list_answers_on_both_paths_without_redirect(client, path):
    created = make_incident(client)

    response = client.get(path, follow_redirects=False)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "items": [created],
        "total": 1,
        "page": 1,
        "limit": 20,
        "pages": 1,
        "total_exact": True,
        "next_cursor": None,
    }


def test_items_are_the_full_stored_incidents(client, db_session):
    incident_id = insert_incident(
        db_session,
        title="Disk full",
        service="db-primary",
        severity="SEV1",
        status="RESOLVED",
        description="Ran out of space.",
        mitigated_at=minutes(5),
        resolved_at=minutes(9),
        updated_at=minutes(9),
    )

    (item,) = list_page(client)["items"]

    assert as_stored(item) == stored_incident(db_session, incident_id)
    assert [item[key] for key in ("title", "service", "severity", "status", "description")] == [
        "Disk full",
        "db-primary",
        "SEV1",
        "RESOLVED",
        "Ran out of space.",
    ]
    assert [parse_time(item[key]) for key in TIME_KEYS] == [BASE_TIME, minutes(9), minutes(5), minutes(9)]


def test_defaults_are_page_1_limit_20_newest_first(client, db_session):
    # created_at runs opposite to insertion order for half the rows, so "newest first" is not "highest id first"
    ids = insert_incidents(db_session, *({"created_at": minutes((i * 7) % 25)} for i in range(25)))
    newest_first = [i for _, i in sorted(((((n * 7) % 25), i) for n, i in enumerate(ids)), reverse=True)]

    body = list_page(client)

    assert (body["total"], body["page"], body["limit"], body["pages"]) == (25, 1, 20, 2)
    assert [item["id"] for item in body["items"]] == newest_first[:20]
    assert list_ids(client, page=2) == newest_first[20:]


@pytest.mark.parametrize(("total", "limit"), [(1, 1), (4, 2), (5, 2), (5, 5), (5, 100), (7, 3)])
def test_pages_is_total_divided_by_limit_rounded_up(client, db_session, total, limit):
    insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(total)))

    body = list_page(client, limit=limit)

    assert (body["total"], body["limit"], body["pages"]) == (total, limit, math.ceil(total / limit))
    assert len(body["items"]) == min(total, limit)


def test_the_last_page_holds_the_remainder(client, db_session):
    ids = insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(7)))

    body = list_page(client, limit=3, page=3)

    assert [item["id"] for item in body["items"]] == [ids[0]]
    assert (body["total"], body["page"], body["pages"]) == (7, 3, 3)


@pytest.mark.parametrize("page", [2, 3, 1000])
def test_a_page_past_the_end_is_empty_with_the_true_total(client, db_session, page):
    insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(3)))

    body = list_page(client, page=page, limit=3)

    assert body == {
        "items": [],
        "total": 3,
        "page": page,
        "limit": 3,
        "pages": 1,
        "total_exact": True,
        "next_cursor": None,
    }


def test_limit_bounds_1_and_100_are_accepted(client, db_session):
    ids = insert_incidents(db_session, *({"created_at": minutes(i)} for i in range(101)))

    assert list_ids(client, limit=1) == [ids[-1]]
    full = list_page(client, limit=100)
    assert [item["id"] for item in full["items"]] == ids[::-1][:100]
    assert (full["total"], full["pages"]) == (101, 2)
    assert list_ids(client, limit=100, page=2) == [ids[0]]


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_paging_through_rows_with_the_same_created_at_never_repeats_or_skips(client, db_session, sort_order):
    ids = insert_incidents(db_session, *({"title": f"tie {i}", "created_at": BASE_TIME} for i in range(23)))
    expected = sorted(ids, reverse=sort_order == "desc")

    seen = []
    for page in range(1, 6):
        body = list_page(client, page=page, limit=5, sort_by="created_at", sort_order=sort_order)
        assert (body["total"], body["pages"]) == (23, 5)
        seen += [item["id"] for item in body["items"]]

    assert seen == expected
    assert list_ids(client, page=6, limit=5, sort_order=sort_order) == []


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_ties_are_broken_by_id_in_the_sort_direction(client, db_session, sort_order):
    # One severity for all, and created_at running against the id: only an id tie-breaker gives id order.
    ids = insert_incidents(db_session, *({"severity": "SEV2", "created_at": minutes(-i)} for i in range(12)))
    expected = sorted(ids, reverse=sort_order == "desc")

    walked = []
    for page in range(1, 4):
        walked += list_ids(client, page=page, limit=5, sort_by="severity", sort_order=sort_order)

    assert walked == expected


# --- search ---------------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(db_session):
    names = ["checkout", "login", "db", "desc-only", "cache"]
    rows = [
        {"title": "Checkout latency above 2 s", "service": "payments-api", "created_at": minutes(1)},
        {"title": "Login page errors", "service": "auth", "created_at": minutes(2)},
        {"title": "Replica lag", "service": "PAYMENTS-db", "created_at": minutes(3)},
        {"title": "Slow pages", "service": "web", "description": "payments are fine", "created_at": minutes(4)},
        {"title": "Cache stampede", "service": "edge-cache", "created_at": minutes(5)},
    ]
    return dict(zip(names, insert_incidents(db_session, *rows), strict=True))


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("checkout", ["checkout"], id="title-lowercase"),
        pytest.param("CHECKOUT LATENCY", ["checkout"], id="title-uppercase"),
        pytest.param("oGiN PaG", ["login"], id="title-mixed-case"),
        pytest.param("auth", ["login"], id="service"),
        pytest.param("payments", ["db", "checkout"], id="service-any-case"),
        pytest.param("PAGE", ["desc-only", "login"], id="title-substring"),
        pytest.param("cache", ["cache"], id="title-or-service-once"),
        pytest.param("fine", [], id="not-the-description"),
        pytest.param("nothing like it", [], id="no-match"),
    ],
)
def test_search_is_a_case_insensitive_substring_of_title_or_service(client, searchable, search, expected):
    body = list_page(client, search=search)

    assert [item["id"] for item in body["items"]] == [searchable[name] for name in expected]
    assert body["total"] == len(expected)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("%", ["percent"], id="percent"),
        pytest.param("0%", ["percent"], id="percent-in-a-term"),
        pytest.param("_", ["underscore"], id="underscore"),
        pytest.param("k_f", ["underscore"], id="underscore-in-a-term"),
        pytest.param("%_%", [], id="only-wildcards"),
    ],
)
def test_search_wildcards_are_literal(client, db_session, search, expected):
    names = ["percent", "plain", "underscore", "lookalike"]
    rows = [
        {"title": "CPU at 100%", "created_at": minutes(1)},
        {"title": "CPU at 1000", "created_at": minutes(2)},
        {"title": "disk_full alert", "created_at": minutes(3)},
        {"title": "diskXfull alert", "created_at": minutes(4)},
    ]
    ids = dict(zip(names, insert_incidents(db_session, *rows), strict=True))

    assert list_ids(client, search=search) == [ids[name] for name in expected]


# --- filters --------------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(db_session):
    """One incident per (severity, status) pair, newest last, keyed by that pair."""
    pairs = [
        (severity, status)
        for severity in ("SEV1", "SEV2", "SEV3", "SEV4")
        for status in ("OPEN", "MITIGATED", "RESOLVED")
    ]
    rows = [{"severity": sev, "status": st, "created_at": minutes(i)} for i, (sev, st) in enumerate(pairs)]
    return dict(zip(pairs, insert_incidents(db_session, *rows), strict=True))


def _expected(mixed, severities=None, statuses=None):
    matching = [
        incident_id
        for (severity, status), incident_id in mixed.items()
        if (severities is None or severity in severities) and (statuses is None or status in statuses)
    ]
    return sorted(matching, reverse=True)  # created_at follows the id in `mixed`


@pytest.mark.parametrize(
    ("severity", "status"),
    [
        pytest.param(["SEV1"], None, id="one-severity"),
        pytest.param(["SEV1", "SEV3"], None, id="two-severities"),
        pytest.param(None, ["MITIGATED"], id="one-status"),
        pytest.param(None, ["OPEN", "RESOLVED"], id="two-statuses"),
        pytest.param(["SEV2"], ["OPEN"], id="severity-and-status"),
        pytest.param(["SEV2", "SEV4"], ["OPEN", "MITIGATED"], id="both-repeated"),
        pytest.param(["SEV1", "SEV2", "SEV3", "SEV4"], ["OPEN", "MITIGATED", "RESOLVED"], id="everything"),
    ],
)
def test_filters_or_within_a_param_and_across_params(client, mixed, severity, status):
    params = {key: value for key, value in (("severity", severity), ("status", status)) if value is not None}

    body = list_page(client, limit=100, **params)

    expected = _expected(mixed, severity, status)
    assert [item["id"] for item in body["items"]] == expected
    assert body["total"] == len(expected)


def test_filters_combine_with_search_and_paging(client, db_session):
    ids = insert_incidents(
        db_session,
        *({"title": f"api {i}", "severity": "SEV1", "created_at": minutes(i)} for i in range(5)),
        *({"title": f"api {i}", "severity": "SEV2", "created_at": minutes(10 + i)} for i in range(5)),
        *({"title": f"web {i}", "severity": "SEV1", "created_at": minutes(20 + i)} for i in range(5)),
    )

    body = list_page(client, search="API", severity="SEV1", limit=2, page=2)

    assert [item["id"] for item in body["items"]] == [ids[2], ids[1]]
    assert (body["total"], body["pages"]) == (5, 3)


# --- sorting --------------------------------------------------------------------------------------------------


@pytest.fixture
def sortable(db_session):
    """Five incidents whose order differs on every sortable column (ids follow the list order: a..e)."""
    rows = [
        {
            "title": "delta",
            "service": "beta",
            "severity": "SEV3",
            "status": "RESOLVED",
            "created_at": minutes(3),
            "updated_at": minutes(30),
        },
        {
            "title": "alpha",
            "service": "echo",
            "severity": "SEV1",
            "status": "OPEN",
            "created_at": minutes(5),
            "updated_at": minutes(10),
        },
        {
            "title": "echo",
            "service": "alpha",
            "severity": "SEV4",
            "status": "MITIGATED",
            "created_at": minutes(1),
            "updated_at": minutes(50),
        },
        {
            "title": "charlie",
            "service": "delta",
            "severity": "SEV2",
            "status": "RESOLVED",
            "created_at": minutes(4),
            "updated_at": minutes(40),
        },
        {
            "title": "bravo",
            "service": "charlie",
            "severity": "SEV3",
            "status": "OPEN",
            "created_at": minutes(2),
            "updated_at": minutes(20),
        },
    ]
    return dict(zip("abcde", insert_incidents(db_session, *rows), strict=True))


@pytest.mark.parametrize(
    ("sort_by", "ascending"),
    [
        ("id", "abcde"),
        ("title", "bedac"),  # alpha, bravo, charlie, delta, echo
        ("service", "caedb"),  # alpha, beta, charlie, delta, echo
        ("severity", "bdaec"),  # SEV1, SEV2, SEV3 (a, e by id), SEV4
        ("status", "becad"),  # lifecycle order: OPEN (b, e), MITIGATED (c), RESOLVED (a, d)
        ("created_at", "ceadb"),
        ("updated_at", "beadc"),
    ],
)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_sort_by_each_whitelisted_column(client, sortable, sort_by, ascending, sort_order):
    # Ties (severity SEV3, status OPEN and RESOLVED) are broken by id in the same direction, so
    # descending order is exactly the ascending order reversed.
    expected = [sortable[key] for key in (ascending if sort_order == "asc" else ascending[::-1])]

    assert list_ids(client, sort_by=sort_by, sort_order=sort_order) == expected


def test_sort_order_defaults_to_desc_and_sort_by_to_created_at(client, sortable):
    assert list_ids(client, sort_by="title") == [sortable[key] for key in "cadeb"]
    assert list_ids(client, sort_order="asc") == [sortable[key] for key in "ceadb"]
    assert list_ids(client) == [sortable[key] for key in "bdaec"]


def test_status_sorts_in_lifecycle_order_not_alphabetically(client, db_session):
    ids = insert_incidents(
        db_session,
        {"status": "RESOLVED", "created_at": minutes(1)},
        {"status": "MITIGATED", "created_at": minutes(2)},
        {"status": "OPEN", "created_at": minutes(3)},
    )

    body = list_page(client, sort_by="status", sort_order="asc")

    assert [item["status"] for item in body["items"]] == ["OPEN", "MITIGATED", "RESOLVED"]
    assert [item["id"] for item in body["items"]] == ids[::-1]


# --- invalid parameters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "locs"),
    [
        pytest.param({"limit": 0}, [("query", "limit")], id="limit-0"),
        pytest.param({"limit": 101}, [("query", "limit")], id="limit-101"),
        pytest.param({"limit": -5}, [("query", "limit")], id="limit-negative"),
        pytest.param({"limit": "ten"}, [("query", "limit")], id="limit-not-a-number"),
        pytest.param({"page": 0}, [("query", "page")], id="page-0"),
        pytest.param({"page": -1}, [("query", "page")], id="page-negative"),
        pytest.param({"page": "first"}, [("query", "page")], id="page-not-a-number"),
        pytest.param({"sort_by": "description"}, [("query", "sort_by")], id="sort_by-not-whitelisted"),
        pytest.param({"sort_by": "id; DROP TABLE incidents"}, [("query", "sort_by")], id="sort_by-injection"),
        pytest.param({"sort_by": "mitigated_at"}, [("query", "sort_by")], id="sort_by-mitigated_at"),
        pytest.param({"sort_order": "up"}, [("query", "sort_order")], id="sort_order-up"),
        pytest.param({"sort_order": "DESC; --"}, [("query", "sort_order")], id="sort_order-injection"),
        pytest.param({"severity": "SEV5"}, [("query", "severity")], id="severity-unknown"),
        pytest.param({"severity": ["SEV1", "sev2"]}, [("query", "severity")], id="severity-one-bad-of-two"),
        pytest.param({"status": "CLOSED"}, [("query", "status")], id="status-unknown"),
        pytest.param(
            {"page": 0, "limit": 101, "sort_by": "x", "sort_order": "up", "severity": "S", "status": "S"},
            [("query", key) for key in ("page", "limit", "sort_by", "sort_order", "severity", "status")],
            id="every-param-at-once",
        ),
    ],
)
def test_invalid_query_params_are_422_naming_each_param(client, db_session, params, locs):
    incident = make_incident(client)

    assert_invalid(client.get(API, params=params), *locs)

    assert count_incidents(db_session) == 1  # the table is still there, untouched
    assert list_ids(client) == [incident["id"]]
