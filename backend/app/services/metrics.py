"""Metrics: open incidents now, created and resolved per week, time to mitigate and to resolve.

`GET /api/metrics` reads tables of aggregates (models.py, "Metrics") that this module keeps in the same
transaction as every change to an incident, so a request sums their rows of the window instead of scanning the
incidents:
`incident_open_counts` (severity, service), `incident_week_counts` (week, created|resolved, severity, service) and
`incident_duration_counts` (service, week, mitigate|resolve, severity, step of the duration scale), with its sums
over the services and over the severities. Archived incidents are in none of them.

What an incident adds to the tables is a function of its own columns (`contributions`); a change moves it from what it
added before to what it adds after (`move`), as the maintained counts of the list do (services/incidents.py).

Percentiles are nearest-rank over the durations on the duration scale: each duration is rounded up to the smallest
step at or above it (whole seconds up to a minute, then steps 5% apart), and the p-th percentile of n durations is
the ⌈p·n⌉-th smallest of them. The figure is thus the exact nearest-rank percentile of the rounded durations, at
most 5% above that of the exact ones and never below it; both databases give the same figures, since they only add
counts and compare integers.
"""

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import Connection, Insert, case, delete, func, insert, literal, null, select, union_all
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Incident,
    IncidentCount,
    IncidentDurationCount,
    IncidentOpenCount,
    IncidentServiceDurationCount,
    IncidentSeverityDurationCount,
    IncidentWeekCount,
    MetricKind,
    Severity,
    Status,
)

WEEK = timedelta(days=7)
# The default window: the current ISO week and the eleven before it.
DEFAULT_WEEKS = 12
# The longest window: two years (of 366 days).
MAX_WINDOW = timedelta(days=2 * 366)
# The times a window may start and end at: weeks around them stay within what a date can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _duration_steps() -> tuple[int, ...]:
    """The duration scale, in seconds: 0 to 60 one by one, then each step 5% above the one before, rounded up to a
    whole second (63, 67, 71, 75, ...), up to a hundred years (anything longer counts as the last step)."""
    steps = list(range(61))
    while steps[-1] < 100 * 366 * 86_400:
        steps.append((steps[-1] * 21 + 19) // 20)
    return tuple(steps)


DURATION_STEPS = _duration_steps()
_STEPS_US = tuple(step * 1_000_000 for step in DURATION_STEPS)


def duration_step(start: datetime, end: datetime) -> int:
    """The step of the duration scale that the time from `start` to `end` counts as: the smallest at or above it."""
    micros = max((end - start) // timedelta(microseconds=1), 0)
    return DURATION_STEPS[min(bisect_left(_STEPS_US, micros), len(DURATION_STEPS) - 1)]


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week that holds `moment`."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def week_start(week: date) -> datetime:
    return datetime.combine(week, time(), tzinfo=UTC)


# --- keeping the tables ------------------------------------------------------------------------------------------

# One row's key in one of the tables: the model, then its key columns' values in their order (KEYS).
Key = tuple[Any, ...]
KEYS: dict[type, tuple[str, ...]] = {
    IncidentOpenCount: ("severity", "service"),
    IncidentWeekCount: ("week", "kind", "severity", "service"),
    IncidentDurationCount: ("service", "week", "kind", "severity", "seconds"),
    IncidentSeverityDurationCount: ("week", "kind", "severity", "seconds"),
    IncidentServiceDurationCount: ("week", "kind", "service", "seconds"),
}
_ORDER = {model: n for n, model in enumerate(KEYS)}


@dataclass(frozen=True)
class Facts:
    """What the metrics know of an incident."""

    archived: bool
    severity: Severity
    service: str
    status: Status
    created_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, incident: Incident) -> "Facts":
        return cls(
            incident.archived_at is not None,
            Severity(incident.severity),
            incident.service,
            Status(incident.status),
            incident.created_at,
            incident.mitigated_at,
            incident.resolved_at,
        )


def contributions(facts: Facts) -> list[Key]:
    """The rows an incident adds one to: none when archived."""
    if facts.archived:
        return []
    severity, service, created = facts.severity, facts.service, facts.created_at
    week = week_of(created)
    rows: list[Key] = [(IncidentWeekCount, week, MetricKind.CREATED, severity, service)]
    if facts.status in (Status.OPEN, Status.MITIGATED):
        rows.append((IncidentOpenCount, severity, service))
    durations = []
    if facts.mitigated_at is not None:
        durations.append((MetricKind.MITIGATE, duration_step(created, facts.mitigated_at)))
    if facts.resolved_at is not None:
        rows.append((IncidentWeekCount, week_of(facts.resolved_at), MetricKind.RESOLVED, severity, service))
        durations.append((MetricKind.RESOLVE, duration_step(created, facts.resolved_at)))
    for kind, step in durations:
        rows.append((IncidentDurationCount, service, week, kind, severity, step))
        rows.append((IncidentSeverityDurationCount, week, kind, severity, step))
        rows.append((IncidentServiceDurationCount, week, kind, service, step))
    return rows


def _sort_key(key: Key) -> tuple:
    return (_ORDER[key[0]], *(str(part) for part in key[1:]))


def _upsert(dialect: str, key: Key, delta: int) -> Insert:
    model, values = key[0], dict(zip(KEYS[key[0]], key[1:], strict=True))
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(model).values(**values, total=delta)
        return statement.on_duplicate_key_update(total=model.total + statement.inserted.total)
    statement = sqlite.insert(model).values(**values, total=delta)
    return statement.on_conflict_do_update(
        index_elements=list(KEYS[model]), set_={"total": model.total + statement.excluded.total}
    )


def metric_changes(dialect: str, before: Facts | None, after: Facts | None) -> list[Insert]:
    """The upserts that move one incident's contributions from `before` to `after` (None: no incident), in a fixed
    order of the rows, so that two transactions lock them in the same order and never deadlock."""
    deltas: Counter[Key] = Counter()
    for key in contributions(before) if before else ():
        deltas[key] -= 1
    for key in contributions(after) if after else ():
        deltas[key] += 1
    ordered = sorted(deltas.items(), key=lambda item: _sort_key(item[0]))
    return [_upsert(dialect, key, delta) for key, delta in ordered if delta]


async def move(session: AsyncSession, before: Facts | None, after: Facts | None) -> None:
    for statement in metric_changes(session.get_bind().dialect.name, before, after):
        await session.execute(statement)


REBUILD_CHUNK = 5_000


def rebuild(connection: Connection) -> None:
    """Rebuild the tables from the incidents, in the caller's transaction: for rows written around the
    services (seed.py) and for the migration that creates the tables. Reads the incidents once, in a stream."""
    totals: Counter[Key] = Counter()
    columns = (
        Incident.archived,
        Incident.severity,
        Incident.service,
        Incident.status,
        Incident.created_at,
        Incident.mitigated_at,
        Incident.resolved_at,
    )
    rows = connection.execution_options(stream_results=True, yield_per=REBUILD_CHUNK).execute(
        select(*columns).where(Incident.archived.is_(False))
    )
    for row in rows:
        facts = Facts(False, Severity(row[1]), row[2], Status(row[3]), row[4], row[5], row[6])
        totals.update(contributions(facts))
    rows.close()
    for model in KEYS:
        connection.execute(delete(model))
    by_model: dict[type, list[dict[str, Any]]] = {model: [] for model in KEYS}
    for key, total in sorted(totals.items(), key=lambda kv: _sort_key(kv[0])):
        by_model[key[0]].append(dict(zip(KEYS[key[0]], key[1:], strict=True)) | {"total": total})
    for model, values in by_model.items():
        for start in range(0, len(values), REBUILD_CHUNK):
            connection.execute(insert(model), values[start : start + REBUILD_CHUNK])


# --- reading them --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The window asked for, and the whole ISO weeks it touches: [first_week, last_week] (Mondays)."""

    start: datetime
    end: datetime
    first_week: date
    last_week: date

    @classmethod
    def of(cls, start: datetime, end: datetime) -> "Window":
        return cls(start, end, week_of(start), week_of(end - timedelta(microseconds=1)))

    @property
    def weeks(self) -> list[date]:
        count = (self.last_week - self.first_week) // WEEK + 1
        return [self.first_week + n * WEEK for n in range(count)]


def default_start(end: datetime) -> datetime:
    """The start of the default window ending at `end`: the Monday of the eleventh week before the one of `end`."""
    return week_start(week_of(end - timedelta(microseconds=1)) - (DEFAULT_WEEKS - 1) * WEEK)


# The dimensions of the duration figures.
ALL, BY_SEVERITY, BY_SERVICE = 0, 1, 2


@dataclass(frozen=True)
class Figures:
    count: int
    median: int | None
    p90: int | None


@dataclass
class MetricsResult:
    open_now: dict[Severity, int]
    weeks: list[tuple[date, int, int]]  # (Monday, created, resolved)
    # (dimension, severity or None, service or None) -> kind -> figures; the dimension ALL, BY_SEVERITY or BY_SERVICE.
    durations: dict[tuple[int, Severity | None, str | None], dict[MetricKind, Figures]]


def _conditions(model: Any, service: str | None, severities: Sequence[Severity]) -> list[Any]:
    conditions = []
    if service is not None:
        conditions.append(model.service == service)
    if severities:
        conditions.append(model.severity.in_(severities))
    return conditions


def open_now_statement(service: str | None, severities: Sequence[Severity]) -> Any:
    """Live OPEN and MITIGATED incidents per severity: without a service, from the list's counts (one row per
    group); with one, from the open counts per (severity, service)."""
    if service is None:
        conditions = [IncidentCount.archived.is_(False), IncidentCount.status.in_([Status.OPEN, Status.MITIGATED])]
        if severities:
            conditions.append(IncidentCount.severity.in_(severities))
        return (
            select(IncidentCount.severity, func.sum(IncidentCount.total))
            .where(*conditions)
            .group_by(IncidentCount.severity)
        )
    return (
        select(IncidentOpenCount.severity, func.sum(IncidentOpenCount.total))
        .where(*_conditions(IncidentOpenCount, service, severities))
        .group_by(IncidentOpenCount.severity)
    )


def weeks_statement(window: Window, service: str | None, severities: Sequence[Severity]) -> Any:
    model = IncidentWeekCount
    created = func.sum(case((model.kind == MetricKind.CREATED, model.total), else_=0))
    resolved = func.sum(case((model.kind == MetricKind.RESOLVED, model.total), else_=0))
    return (
        select(model.week, created, resolved)
        .where(model.week >= window.first_week, model.week <= window.last_week)
        .where(*_conditions(model, service, severities))
        .group_by(model.week)
    )


def _histogram(model: Any, dim: int, window: Window, conditions: list[Any], severity: bool, service: bool) -> Any:
    """One dimension's histogram of the window: (dim, kind, severity or NULL, service or NULL, seconds, total)."""
    by = [model.kind, *([model.severity] if severity else []), *([model.service] if service else []), model.seconds]
    return (
        select(
            literal(dim).label("dim"),
            model.kind.label("kind"),
            (model.severity if severity else null()).label("severity"),
            (model.service if service else null()).label("service"),
            model.seconds.label("seconds"),
            func.sum(model.total).label("total"),
        )
        .where(model.week >= window.first_week, model.week <= window.last_week, model.total > 0, *conditions)
        .group_by(*by)
    )


def durations_statement(window: Window, service: str | None, severities: Sequence[Severity]) -> Any:
    """Per dimension (all; each severity; each service) and kind: the number of durations, and the nearest-rank
    median and p90 on the scale. Each dimension's histogram of the window is read from the narrowest table that
    holds it (summed over the services or the severities when no filter names one), its running total taken in the
    order of the steps, and a percentile is the first step whose running total reaches ⌈p·n⌉ (2·running ≥ n for
    the median, 10·running ≥ 9·n for p90: integers only)."""
    joint, by_severity, by_service = IncidentDurationCount, IncidentSeverityDurationCount, IncidentServiceDurationCount
    if service is None:
        overall, overall_conditions = by_severity, _conditions(by_severity, None, severities)
        per_service, per_service_conditions = (
            (joint, _conditions(joint, None, severities)) if severities else (by_service, [])
        )
    else:  # one service: the joint table's rows of that service
        overall = per_service = joint
        overall_conditions = per_service_conditions = _conditions(joint, service, severities)
    # The dimension as a number and NULL for a column it does not group by: a string literal or a cast NULL would
    # give MariaDB's UNION two collations to mix.
    dimensions = union_all(
        _histogram(overall, ALL, window, overall_conditions, severity=False, service=False),
        _histogram(overall, BY_SEVERITY, window, overall_conditions, severity=True, service=False),
        _histogram(per_service, BY_SERVICE, window, per_service_conditions, severity=False, service=True),
    ).subquery("dimensions")
    d = dimensions.c
    partition = (d.dim, d.kind, d.severity, d.service)
    running = (
        select(
            d.dim,
            d.kind,
            d.severity,
            d.service,
            d.seconds,
            func.sum(d.total).over(partition_by=partition, order_by=d.seconds, rows=(None, 0)).label("running"),
            func.sum(d.total).over(partition_by=partition).label("n"),
        )
    ).subquery("running")
    r = running.c
    return select(
        r.dim,
        r.kind,
        r.severity,
        r.service,
        func.max(r.n),
        func.min(case((2 * r.running >= r.n, r.seconds))),
        func.min(case((10 * r.running >= 9 * r.n, r.seconds))),
    ).group_by(r.dim, r.kind, r.severity, r.service)


async def read_metrics(
    session: AsyncSession, window: Window, service: str | None, severities: Sequence[Severity]
) -> MetricsResult:
    open_now = {severity: 0 for severity in (severities or list(Severity))}
    for severity, total in await session.execute(open_now_statement(service, severities)):
        open_now[Severity(severity)] = int(total or 0)
    by_week = {week: (int(created), int(resolved)) for week, created, resolved in
               await session.execute(weeks_statement(window, service, severities))}  # fmt: skip
    weeks = [(week, *by_week.get(week, (0, 0))) for week in window.weeks]
    durations: dict[tuple[int, Severity | None, str | None], dict[MetricKind, Figures]] = {}
    for dim, kind, severity, name, count, median, p90 in await session.execute(
        durations_statement(window, service, severities)
    ):
        key = (int(dim), None if severity is None else Severity(severity), name)
        durations.setdefault(key, {})[MetricKind(kind)] = Figures(int(count), int(median), int(p90))
    return MetricsResult(open_now, weeks, durations)


def window_of(start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """The window asked for, with the defaults filled in; a 422 on `from` or `to` unless `from` < `to` and the
    window is at most MAX_WINDOW long."""
    end = (end or now).astimezone(UTC)
    problem = None
    for name, moment in (("from", start), ("to", end)):
        if moment is not None and not EARLIEST <= moment <= LATEST:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", name),
                        "msg": f"Give a time from {EARLIEST:%Y} to {LATEST:%Y}.",
                        "type": "time_range",
                    }
                ]
            )
    start = (start or default_start(end)).astimezone(UTC)
    if start >= end:
        problem = ("from", f"`from` ({start.isoformat()}) must be before `to` ({end.isoformat()}).", "window_empty")
    elif end - start > MAX_WINDOW:
        problem = ("to", f"The window is at most {MAX_WINDOW.days} days long; this one is {(end - start).days}.",
                   "window_too_long")  # fmt: skip
    if problem:
        raise RequestValidationError([{"loc": ("query", problem[0]), "msg": problem[1], "type": problem[2]}])
    return Window.of(start, end)
