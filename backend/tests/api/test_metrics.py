"""GET /api/metrics against figures computed by hand on a fixed data set, on both databases.

The data set is made through the API, with the services' clock set to chosen times, so the aggregates are the
ones the services keep; `test_a_rebuild_gives_the_kept_aggregates` checks that a rebuild from the rows agrees.

Weeks (ISO, UTC): W0 is Monday 2026-06-01, W1 06-08, W2 06-15 (nothing happens in it), W3 06-22. Durations in
seconds; on the duration scale they are themselves, except 100 (-> 103) and the 14.6 days of F (a step itself).

| incident | week | service  | severity | to mitigate | to resolve | now                           |
|----------|------|----------|----------|-------------|------------|-------------------------------|
| A        | W0   | payments | SEV1     | 10          | 40         | RESOLVED                      |
| B        | W0   | payments | SEV1     | 20          | 50         | RESOLVED                      |
| C        | W1   | payments | SEV2     | 30          |            | MITIGATED                     |
| D        | W1   | search   | SEV2     | 100 -> 103  | 100 -> 103 | RESOLVED (directly)           |
| E        | W3   | search   | SEV3     |             |            | OPEN                          |
| F        | W1   | search   | SEV4     | 5           | 1,261,075  | RESOLVED in W3                |
| I        | W1   | payments | SEV3     | 45          |            | OPEN (resolved at 55, reopened) |
| G        | W0   | payments | SEV1     | 1           |            | MITIGATED, archived           |
| H        | W-1  | search   | SEV2     | 60          | 7 days     | RESOLVED in W0                |
"""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Role
from app.services import incidents as incident_service
from app.services import metrics as metric_service
from tests.api.helpers import assert_invalid, assert_problem

URL = "/api/metrics"
W0 = datetime(2026, 6, 1, tzinfo=UTC)
W1, W2, W3, W4 = (W0 + timedelta(weeks=n) for n in (1, 2, 3, 4))
F_TO_RESOLVE = 1_261_075  # a step of the duration scale: 14 days 14:17:55
WINDOW = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-29T00:00:00Z"}


class Clock:
    def __init__(self) -> None:
        self.now = W0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(incident_service, "utcnow", clock)
    return clock


def create(client, clock: Clock, at: datetime, service: str, severity: str, **extra: Any) -> int:
    clock.now = at
    body = {"title": f"{service} {severity}", "service": service, "severity": severity, **extra}
    response = client.post("/api/incidents/", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def patch(client, clock: Clock, incident_id: int, at: datetime, **changes: Any) -> None:
    clock.now = at
    response = client.patch(f"/api/incidents/{incident_id}", json=changes)
    assert response.status_code == 200, response.text


def lifecycle(client, clock, at, service, severity, mitigate=None, resolve=None) -> int:
    incident = create(client, clock, at, service, severity)
    if mitigate is not None:
        patch(client, clock, incident, at + timedelta(seconds=mitigate), status="MITIGATED")
    if resolve is not None:
        patch(client, clock, incident, at + timedelta(seconds=resolve), status="RESOLVED")
    return incident


@pytest.fixture
def data_set(client, clients, clock) -> None:
    tuesday = timedelta(days=1, hours=10)
    lifecycle(client, clock, W0 + tuesday, "payments", "SEV1", 10, 40)  # A
    lifecycle(client, clock, W0 + tuesday + timedelta(hours=1), "payments", "SEV1", 20, 50)  # B
    lifecycle(client, clock, W1 + tuesday, "payments", "SEV2", 30)  # C
    d = create(client, clock, W1 + timedelta(days=2), "search", "SEV2")  # D
    patch(client, clock, d, W1 + timedelta(days=2, seconds=100), status="RESOLVED")
    create(client, clock, W3 + timedelta(days=6, hours=23, minutes=59), "search", "SEV3")  # E: Sunday 23:59
    lifecycle(client, clock, W1 + timedelta(days=2, hours=12), "search", "SEV4", 5, F_TO_RESOLVE)  # F
    i = lifecycle(client, clock, W1 + timedelta(days=3), "payments", "SEV3", 45, 55)  # I
    patch(client, clock, i, W1 + timedelta(days=3, seconds=70), status="OPEN")
    g = lifecycle(client, clock, W0, "payments", "SEV1", 1)  # G: Monday 00:00
    clock.now = W0 + timedelta(seconds=5)
    assert clients[Role.ADMIN].delete(f"/api/incidents/{g}").status_code == 200
    h_created = W0 - timedelta(days=6)
    lifecycle(client, clock, h_created, "search", "SEV2", 60, 7 * 86_400)  # H: resolved in W0


def figures(count, median, p90):
    return {"count": count, "median_seconds": median, "p90_seconds": p90}


NONE = figures(0, None, None)


def durations(mitigate, resolve):
    return {"time_to_mitigate": mitigate, "time_to_resolve": resolve}


def get(client, **params):
    response = client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def weeks(body):
    return [(week["week"], week["created"], week["resolved"]) for week in body["weeks"]]


def test_the_whole_data_set(client, data_set):
    body = get(client, **WINDOW)

    assert (body["from"], body["to"]) == ("2026-06-01T00:00:00Z", "2026-06-29T00:00:00Z")
    assert (body["weeks_start"], body["weeks_end"]) == ("2026-06-01T00:00:00Z", "2026-06-29T00:00:00Z")
    assert (body["service"], body["severity"]) == (None, ["SEV1", "SEV2", "SEV3", "SEV4"])
    # C (SEV2, mitigated), E and I (SEV3): G is archived, H and the others resolved.
    assert body["open_now"] == [
        {"severity": "SEV1", "count": 0},
        {"severity": "SEV2", "count": 1},
        {"severity": "SEV3", "count": 2},
        {"severity": "SEV4", "count": 0},
    ]
    assert body["open_now_total"] == 3
    # Created: A, B | C, D, F, I | - | E. Resolved: A, B, H | D | - | F (I was reopened).
    assert weeks(body) == [("2026-06-01", 2, 3), ("2026-06-08", 4, 1), ("2026-06-15", 0, 0), ("2026-06-22", 1, 1)]
    # To mitigate, sorted: 5 10 20 30 45 103: median the 3rd (20), p90 the 6th (103).
    # To resolve: 40 50 103 F: median the 2nd (50), p90 the 4th (F). H was created before the window.
    assert body["durations"] == durations(figures(6, 20, 103), figures(4, 50, F_TO_RESOLVE))
    assert body["durations_by_severity"] == [
        {"severity": "SEV1", **durations(figures(2, 10, 20), figures(2, 40, 50))},
        {"severity": "SEV2", **durations(figures(2, 30, 103), figures(1, 103, 103))},
        {"severity": "SEV3", **durations(figures(1, 45, 45), NONE)},
        {"severity": "SEV4", **durations(figures(1, 5, 5), figures(1, F_TO_RESOLVE, F_TO_RESOLVE))},
    ]
    assert body["durations_by_service"] == [
        {"service": "payments", **durations(figures(4, 20, 45), figures(2, 40, 50))},
        {"service": "search", **durations(figures(2, 5, 103), figures(2, 103, F_TO_RESOLVE))},
    ]


def test_a_window_covers_the_whole_weeks_it_touches(client, data_set):
    """Tuesday of W1 to Monday noon of W3: W1, W2 and W3 entirely."""
    body = get(client, **{"from": "2026-06-09T12:00:00+02:00", "to": "2026-06-22T12:00:00Z"})

    assert (body["from"], body["to"]) == ("2026-06-09T10:00:00Z", "2026-06-22T12:00:00Z")
    assert (body["weeks_start"], body["weeks_end"]) == ("2026-06-08T00:00:00Z", "2026-06-29T00:00:00Z")
    assert weeks(body) == [("2026-06-08", 4, 1), ("2026-06-15", 0, 0), ("2026-06-22", 1, 1)]
    # C 30, D 103, F 5, I 45 | D 103, F.
    assert body["durations"] == durations(figures(4, 30, 103), figures(2, 103, F_TO_RESOLVE))
    # Open now does not depend on the window.
    assert body["open_now_total"] == 3


def test_a_window_ending_on_a_monday_stops_before_it(client, data_set):
    body = get(client, **{"from": "2026-06-01T00:00:00Z", "to": "2026-06-08T00:00:00Z"})

    assert weeks(body) == [("2026-06-01", 2, 3)]
    assert body["weeks_end"] == "2026-06-08T00:00:00Z"
    assert body["durations"] == durations(figures(2, 10, 20), figures(2, 40, 50))


def test_an_empty_window_has_its_weeks_and_no_figures(client, data_set):
    body = get(client, **{"from": "2025-01-06T00:00:00Z", "to": "2025-01-20T00:00:00Z"})

    assert weeks(body) == [("2025-01-06", 0, 0), ("2025-01-13", 0, 0)]
    assert body["durations"] == durations(NONE, NONE)
    assert [row["time_to_mitigate"] for row in body["durations_by_severity"]] == [NONE] * 4
    assert body["durations_by_service"] == []
    assert body["open_now_total"] == 3


def test_service_filter(client, data_set):
    body = get(client, service="payments", **WINDOW)

    assert body["service"] == "payments"
    assert [row["count"] for row in body["open_now"]] == [0, 1, 1, 0]  # C; I
    assert weeks(body) == [("2026-06-01", 2, 2), ("2026-06-08", 2, 0), ("2026-06-15", 0, 0), ("2026-06-22", 0, 0)]
    # 10 20 30 45 | 40 50
    assert body["durations"] == durations(figures(4, 20, 45), figures(2, 40, 50))
    assert [row["service"] for row in body["durations_by_service"]] == ["payments"]


def test_the_service_is_its_exact_name(client, data_set):
    """On MariaDB too, whose collation of the incidents' column would take PAYMENTS for payments."""
    body = get(client, service="PAYMENTS", **WINDOW)

    assert body["open_now_total"] == 0
    assert weeks(body) == [(week, 0, 0) for week in ("2026-06-01", "2026-06-08", "2026-06-15", "2026-06-22")]
    assert body["durations"] == durations(NONE, NONE)


def test_severity_filter_single_and_repeated(client, data_set):
    one = get(client, severity="SEV3", **WINDOW)
    two = client.get(URL, params=[("severity", "SEV2"), ("severity", "SEV1"), *WINDOW.items()]).json()

    assert one["severity"] == ["SEV3"]
    assert one["open_now"] == [{"severity": "SEV3", "count": 2}]
    assert weeks(one) == [("2026-06-01", 0, 0), ("2026-06-08", 1, 0), ("2026-06-15", 0, 0), ("2026-06-22", 1, 0)]
    assert one["durations"] == durations(figures(1, 45, 45), NONE)
    assert two["severity"] == ["SEV1", "SEV2"]
    assert two["open_now"] == [{"severity": "SEV1", "count": 0}, {"severity": "SEV2", "count": 1}]
    # 10 20 30 103 | 40 50 103
    assert two["durations"] == durations(figures(4, 20, 103), figures(3, 50, 103))
    assert [row["severity"] for row in two["durations_by_severity"]] == ["SEV1", "SEV2"]
    assert weeks(two)[0] == ("2026-06-01", 2, 3)  # H (SEV2) resolved in W0


def test_service_and_severity_together(client, data_set):
    body = get(client, service="search", severity="SEV2", **WINDOW)

    assert body["open_now"] == [{"severity": "SEV2", "count": 0}]
    assert weeks(body) == [("2026-06-01", 0, 1), ("2026-06-08", 1, 1), ("2026-06-15", 0, 0), ("2026-06-22", 0, 0)]
    assert body["durations"] == durations(figures(1, 103, 103), figures(1, 103, 103))


def test_restoring_an_archived_incident_counts_it_again(client, clients, clock, data_set):
    incident = client.get("/api/incidents/", params={"archived": "true"}, headers=clients[Role.ADMIN].headers)
    (archived,) = [item["id"] for item in incident.json()["items"]]
    assert clients[Role.ADMIN].post(f"/api/incidents/{archived}/restore").status_code == 200

    body = get(client, **WINDOW)

    assert body["open_now"][0] == {"severity": "SEV1", "count": 1}  # G, mitigated
    assert weeks(body)[0] == ("2026-06-01", 3, 3)
    assert body["durations_by_severity"][0]["time_to_mitigate"] == figures(3, 10, 20)  # 1 10 20


def test_changing_service_and_severity_moves_the_figures(client, clock, data_set):
    incidents = client.get("/api/incidents/", params={"search": "search SEV4"}).json()["items"]
    (f,) = [item["id"] for item in incidents]
    patch(client, clock, f, W3 + timedelta(days=5), service="payments", severity="SEV1")

    body = get(client, **WINDOW)

    assert body["durations_by_severity"][0]["time_to_mitigate"] == figures(3, 10, 20)  # 5 10 20
    assert body["durations_by_severity"][3]["time_to_mitigate"] == NONE
    assert body["durations_by_service"][1]["time_to_mitigate"] == figures(1, 103, 103)  # search: D alone
    assert weeks(body)[3] == ("2026-06-22", 1, 1)  # F still resolved in W3 (its resolution did not move)


def test_a_rebuild_gives_the_kept_aggregates(client, data_set, db_engine):
    def tables(session: Session) -> dict[str, set]:
        found = {}
        for model in metric_service.KEYS:
            columns = [*model.__table__.primary_key.columns, model.__table__.c.total]
            found[model.__tablename__] = {tuple(row) for row in session.execute(select(*columns)) if row[-1]}
        return found

    with Session(db_engine) as session:
        kept = tables(session)
    with db_engine.begin() as connection:
        metric_service.rebuild(connection)
    with Session(db_engine) as session:
        rebuilt = tables(session)

    assert rebuilt == kept
    assert len(kept) == 5
    assert sum(total for *_, total in kept["incident_open_counts"]) == 3


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_read_the_metrics(clients, role):
    assert clients[role].get(URL).status_code == 200


def test_signed_out_is_401(anonymous):
    assert_problem(anonymous.get(URL), 401)


def test_the_default_window_is_the_twelve_weeks_up_to_this_one(client):
    before = datetime.now(UTC)
    body = get(client)
    after = datetime.now(UTC)

    this_week = metric_service.week_of(before)
    starts = [datetime.fromisoformat(week["week"]) for week in body["weeks"]]
    assert len(starts) == 12
    assert all(later - earlier == timedelta(weeks=1) for earlier, later in pairwise(starts))
    assert starts[-1].date() == this_week
    assert body["from"] == body["weeks_start"] == f"{starts[0].date()}T00:00:00Z"
    assert before <= datetime.fromisoformat(body["to"]) <= after
    assert body["durations"] == durations(NONE, NONE)


def test_only_to_gives_the_twelve_weeks_up_to_it(client):
    body = get(client, to="2026-06-29T00:00:00Z")

    assert body["from"] == "2026-04-06T00:00:00Z"
    assert len(body["weeks"]) == 12
    assert body["weeks"][-1]["week"] == "2026-06-22"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from": "2026-06-08T00:00:00Z", "to": "2026-06-01T00:00:00Z"}, ("query", "from")),
        ({"from": "2026-06-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}, ("query", "from")),
        ({"from": "2030-01-01T00:00:00Z"}, ("query", "from")),  # after now, the default `to`
        ({"from": "2024-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}, ("query", "to")),  # 733 days
        ({"from": "2026-06-01T00:00:00"}, ("query", "from")),  # no offset
        ({"from": "2026-06-01"}, ("query", "from")),
        ({"to": "1780000000"}, ("query", "to")),  # a number is no time here
        ({"severity": "SEV9"}, ("query", "severity")),
        ({"to": "0001-01-01T00:00:00Z"}, ("query", "to")),
        ({"from": "9999-12-31T00:00:00+14:00", "to": "9999-12-31T23:00:00Z"}, ("query", "from")),
        ({"service": " "}, ("query", "service")),
        ({"service": "x" * 101}, ("query", "service")),
    ],
)
def test_invalid_parameters_are_422(client, params, loc):
    assert_invalid(client.get(URL, params=params), loc)


def test_two_years_is_allowed(client):
    body = get(client, **{"from": "2024-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"})  # 732 days

    assert len(body["weeks"]) == 105


def test_the_duration_scale():
    assert metric_service.DURATION_STEPS[:3] == (0, 1, 2)
    assert metric_service.DURATION_STEPS[59:66] == (59, 60, 63, 67, 71, 75, 79)
    assert F_TO_RESOLVE in metric_service.DURATION_STEPS
    at = datetime(2026, 6, 1, tzinfo=UTC)
    step = metric_service.duration_step
    assert step(at, at) == 0
    assert step(at, at + timedelta(microseconds=1)) == 1
    assert step(at, at + timedelta(seconds=60)) == 60
    assert step(at, at + timedelta(seconds=60, microseconds=1)) == 63
    assert step(at, at + timedelta(seconds=100)) == 103
    assert step(at, at + timedelta(days=365 * 200)) == metric_service.DURATION_STEPS[-1]
