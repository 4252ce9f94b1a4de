"""The list's totals: exact from the counts kept with every change (also under concurrent changes), and bounded
with search."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import pytest
from sqlalchemy import func, select

from app.models import Incident, IncidentCount, Role
from tests.api.helpers import API, BASE_TIME, insert_incidents, list_page, make_incident

SEVERITIES = ["SEV1", "SEV2", "SEV3", "SEV4"]
STATUSES = ["OPEN", "MITIGATED", "RESOLVED"]


def real_counts(db_session) -> Counter:
    """COUNT(*) per (archived, severity, status), from the incidents themselves."""
    db_session.rollback()
    archived = Incident.archived_at.is_not(None)
    rows = db_session.execute(
        select(archived, Incident.severity, Incident.status, func.count()).group_by(
            archived, Incident.severity, Incident.status
        )
    ).all()
    return Counter({(bool(a), sev.value, st.value): n for a, sev, st, n in rows})


def kept_counts(db_session) -> Counter:
    db_session.rollback()
    rows = db_session.execute(
        select(IncidentCount.archived, IncidentCount.severity, IncidentCount.status, IncidentCount.total)
    )
    return Counter({(bool(a), sev.value, st.value): n for a, sev, st, n in rows if n})


def assert_every_total_is_exact(admin, db_session) -> None:
    """Every list total (each view, each severity and status filter and their pairs) is the real count."""
    real = real_counts(db_session)
    assert kept_counts(db_session) == real
    for archived, severity, status in product([False, True], [None, *SEVERITIES], [None, *STATUSES]):
        params = {"archived": str(archived).lower(), "limit": 1}
        params |= {"severity": severity} if severity else {}
        params |= {"status": status} if status else {}
        expected = sum(
            n for (a, sev, st), n in real.items() if a == archived and severity in (None, sev) and status in (None, st)
        )
        body = list_page(admin, **params)
        assert (body["total"], body["total_exact"], body["pages"]) == (expected, True, expected), params


def test_totals_are_exact_after_creates_updates_archives_and_restores(clients, db_session):
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    created = [make_incident(responder, severity=sev, status=st) for sev, st in product(SEVERITIES, STATUSES)]
    created += [make_incident(responder, severity="SEV1") for _ in range(3)]
    assert_every_total_is_exact(admin, db_session)
    assert list_page(admin)["total"] == 15

    for incident, change in zip(
        created,
        [{"severity": "SEV4"}, {"status": "RESOLVED"}, {"severity": "SEV2", "status": "OPEN"}, {"title": "only"}],
        strict=False,
    ):
        assert responder.patch(f"{API}{incident['id']}", json=change).status_code == 200
    assert_every_total_is_exact(admin, db_session)

    for incident in created[:6]:
        assert admin.delete(f"{API}{incident['id']}").status_code == 200
    assert_every_total_is_exact(admin, db_session)
    assert (list_page(admin)["total"], list_page(admin, archived="true")["total"]) == (9, 6)

    for incident in created[:2]:
        assert admin.post(f"{API}{incident['id']}/restore").status_code == 200
    assert responder.patch(f"{API}{created[0]['id']}", json={"status": "MITIGATED"}).status_code == 200
    assert_every_total_is_exact(admin, db_session)
    assert (list_page(admin)["total"], list_page(admin, archived="true")["total"]) == (11, 4)


def test_a_refused_change_leaves_the_totals_as_they_were(clients, db_session):
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    incident = make_incident(responder, severity="SEV2")

    assert responder.patch(f"{API}{incident['id']}", json={"severity": "SEV9"}).status_code == 422
    assert admin.post(f"{API}{incident['id']}/restore").status_code == 409  # not archived
    assert admin.delete(f"{API}{incident['id']}").status_code == 200
    assert admin.delete(f"{API}{incident['id']}").status_code == 404  # already archived

    assert kept_counts(db_session) == Counter({(True, "SEV2", "OPEN"): 1})
    assert_every_total_is_exact(admin, db_session)


def run_together(calls) -> list[int]:
    """Run the calls at the same moment, one thread each; their status codes in order."""
    start = threading.Barrier(len(calls))

    def call(fn) -> int:
        start.wait(timeout=30)
        return fn().status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(call, calls))


def test_counts_stay_exact_under_concurrent_creates_updates_archives_and_restores(clients, db_session):
    admin, responder = clients[Role.ADMIN], clients[Role.RESPONDER]
    # Creates at once, several into the same group (the same count row).
    statuses = run_together(
        [
            lambda sev=sev: responder.post(API, json={"title": "t", "service": "s", "severity": sev})
            for sev in SEVERITIES * 3
        ]
    )
    assert statuses == [201] * 12
    ids = [item["id"] for item in list_page(admin, sort_by="id", sort_order="asc")["items"]]
    assert_every_total_is_exact(admin, db_session)

    # Archives of distinct incidents, and competing changes of the same incidents' groups, at once.
    calls = [lambda i=i: admin.delete(f"{API}{i}") for i in ids[:4]]
    calls += [lambda i=ids[4], st=st: responder.patch(f"{API}{i}", json={"status": st}) for st in STATUSES]
    calls += [lambda i=ids[5], sev=sev: responder.patch(f"{API}{i}", json={"severity": sev}) for sev in SEVERITIES]
    calls += [lambda i=ids[6]: admin.delete(f"{API}{i}") for _ in range(3)]  # the same one, three times
    statuses = run_together(calls)
    assert statuses[:11] == [200] * 11
    assert sorted(statuses[11:]) == [200, 404, 404]  # archived once; then it is not there to archive
    assert_every_total_is_exact(admin, db_session)

    # Restores and archives at once, each incident twice.
    calls = [lambda i=i: admin.post(f"{API}{i}/restore") for i in [*ids[:4], *ids[:4]]]
    calls += [lambda i=i: admin.delete(f"{API}{i}") for i in [*ids[7:10], *ids[7:10]]]
    statuses = run_together(calls)
    assert sorted(statuses[:8]) == [200] * 4 + [409] * 4
    assert sorted(statuses[8:]) == [200] * 3 + [404] * 3
    assert_every_total_is_exact(admin, db_session)
    assert (list_page(admin)["total"], list_page(admin, archived="true")["total"]) == (8, 4)


# --- with search: a bounded count --------------------------------------------------------------------------


@pytest.fixture
def bound(app, monkeypatch) -> int:
    """A small bound, set where the app reads it (the list_count_limit setting)."""
    monkeypatch.setattr(app.state.settings, "list_count_limit", 5)
    return 5


def test_the_default_bound_is_10000(app):
    from app.config import Settings

    assert Settings().list_count_limit == 10_000


@pytest.mark.parametrize(("matches", "total", "exact", "pages"), [(4, 4, True, 2), (5, 5, True, 3), (6, 5, False, 3)])
def test_with_search_the_total_is_exact_up_to_the_bound_and_a_lower_bound_past_it(
    client, db_session, bound, matches, total, exact, pages
):
    insert_incidents(db_session, *({"title": f"disk full {i}"} for i in range(matches)), {"title": "other"})

    body = list_page(client, search="DISK", limit=2)

    assert (body["total"], body["total_exact"], body["pages"]) == (total, exact, pages)
    assert len(body["items"]) == 2


def test_without_search_the_total_is_exact_past_the_bound(client, db_session, bound):
    insert_incidents(db_session, *({"title": f"disk full {i}"} for i in range(7)))

    body = list_page(client, limit=2)

    assert (body["total"], body["total_exact"], body["pages"]) == (7, True, 4)


def test_with_search_past_the_bound_every_match_can_still_be_paged_through(client, db_session, bound):
    ids = insert_incidents(db_session, *({"title": f"disk {i}"} for i in range(8)))

    first = list_page(client, search="disk", sort_by="id", limit=3)
    second = list_page(client, search="disk", sort_by="id", limit=3, cursor=first["next_cursor"])
    third = list_page(client, search="disk", sort_by="id", limit=3, cursor=second["next_cursor"])

    assert [item["id"] for page in (first, second, third) for item in page["items"]] == ids[::-1]
    assert third["next_cursor"] is None
    assert (third["total"], third["total_exact"]) == (5, False)


@pytest.mark.parametrize(
    ("on_title", "on_service", "on_both", "total", "exact"),
    [(2, 1, 1, 4, True), (0, 0, 5, 5, True), (3, 3, 0, 5, False), (6, 0, 0, 5, False)],
)
def test_many_matches_are_counted_through_title_and_service_once_each(
    client, db_session, bound, monkeypatch, on_title, on_service, on_both, total, exact
):
    """When many incidents hold the matching values (here: past a sparse limit of 0), the total is counted through
    the title and the service indexes: an incident that matches on both counts once, archived ones and other
    severities not at all, and past the bound the total is the bound, a lower bound."""
    from app.services import search

    monkeypatch.setattr(search, "SPARSE_LIMIT", 0)
    insert_incidents(
        db_session,
        *({"title": f"disk full {i}", "service": "api"} for i in range(on_title)),
        *({"title": f"other {i}", "service": "disk-api"} for i in range(on_service)),
        *({"title": f"disk gone {i}", "service": "disk-store"} for i in range(on_both)),
        {"title": "disk archived", "service": "disk-api", "archived_at": BASE_TIME},
        {"title": "disk minor", "service": "disk-api", "severity": "SEV4"},
        {"title": "unrelated", "service": "api"},
    )

    body = list_page(client, search="DISK", severity=["SEV1", "SEV2", "SEV3"], limit=2)

    assert (body["total"], body["total_exact"]) == (total, exact)
