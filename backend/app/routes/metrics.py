"""Metrics: open incidents now, created and resolved per week, time to mitigate and to resolve."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.database import utcnow
from app.deps import SessionDep, ViewerUser
from app.errors import responses
from app.models import MetricKind, Severity
from app.schemas import (
    DurationFigures,
    DurationMetrics,
    MetricsParams,
    MetricsRead,
    OpenCount,
    ServiceDurations,
    SeverityDurations,
    WeekCounts,
)
from app.services import metrics as metric_service
from app.services.metrics import ALL, BY_SERVICE, BY_SEVERITY

router = APIRouter(prefix="/api/metrics", tags=["metrics"])

NONE = metric_service.Figures(0, None, None)


def _durations(figures: dict[MetricKind, metric_service.Figures] | None) -> dict[str, DurationFigures]:
    def read(kind: MetricKind) -> DurationFigures:
        found = (figures or {}).get(kind, NONE)
        return DurationFigures(count=found.count, median_seconds=found.median, p90_seconds=found.p90)

    return {"time_to_mitigate": read(MetricKind.MITIGATE), "time_to_resolve": read(MetricKind.RESOLVE)}


@router.get("", response_model=MetricsRead, responses=responses(401, 403, 422))
async def get_metrics(params: Annotated[MetricsParams, Query()], session: SessionDep, _user: ViewerUser) -> MetricsRead:
    """Open incidents now by severity; created and resolved per ISO week; median and p90 time to mitigate and to
    resolve, overall, by severity and by service. Archived incidents count nowhere."""
    window = metric_service.window_of(params.from_, params.to, utcnow())
    severities = sorted(set(params.severity)) or list(Severity)
    result = await metric_service.read_metrics(session, window, params.service, params.severity)
    durations = result.durations
    services = sorted(name for dim, _, name in durations if dim == BY_SERVICE and name is not None)
    return MetricsRead(
        from_=window.start,
        to=window.end,
        weeks_start=metric_service.week_start(window.first_week),
        weeks_end=metric_service.week_start(window.last_week + metric_service.WEEK),
        service=params.service,
        severity=severities,
        open_now=[OpenCount(severity=severity, count=result.open_now.get(severity, 0)) for severity in severities],
        open_now_total=sum(result.open_now.values()),
        weeks=[WeekCounts(week=week, created=created, resolved=resolved) for week, created, resolved in result.weeks],
        durations=DurationMetrics(**_durations(durations.get((ALL, None, None)))),
        durations_by_severity=[
            SeverityDurations(severity=severity, **_durations(durations.get((BY_SEVERITY, severity, None))))
            for severity in severities
        ],
        durations_by_service=[
            ServiceDurations(service=name, **_durations(durations.get((BY_SERVICE, None, name)))) for name in services
        ],
    )
