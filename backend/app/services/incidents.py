"""Incident use cases. Functions here flush but never commit: the request's unit of work does that."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import Session

from app.database import utcnow
from app.errors import NotFound
from app.models import Incident, Status
from app.schemas import IncidentCreate, IncidentListParams, IncidentUpdate

# The whitelist that reaches ORDER BY: only these attributes can ever be sorted on.
SORT_COLUMNS = {
    "id": Incident.id,
    "title": Incident.title,
    "service": Incident.service,
    "severity": Incident.severity,
    # Status sorts in lifecycle order (OPEN, MITIGATED, RESOLVED), not alphabetically.
    "status": case({status: rank for rank, status in enumerate(Status)}, value=Incident.status),
    "created_at": Incident.created_at,
    "updated_at": Incident.updated_at,
}


def _filters(params: IncidentListParams) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if params.search:
        conditions.append(
            or_(
                Incident.title.icontains(params.search, autoescape=True),
                Incident.service.icontains(params.search, autoescape=True),
            )
        )
    if params.severity:
        conditions.append(Incident.severity.in_(params.severity))
    if params.status:
        conditions.append(Incident.status.in_(params.status))
    return conditions


def list_incidents(session: Session, params: IncidentListParams) -> tuple[Sequence[Incident], int]:
    """One page of incidents and the total that match, ordered with `id` as the tie-breaker."""
    conditions = _filters(params)
    column = SORT_COLUMNS[params.sort_by]
    ordering = (column.asc(), Incident.id.asc()) if params.sort_order == "asc" else (column.desc(), Incident.id.desc())
    if params.sort_by == "id":
        ordering = ordering[:1]
    page_query: Select[tuple[Incident]] = (
        select(Incident)
        .where(*conditions)
        .order_by(*ordering)
        .limit(params.limit)
        .offset((params.page - 1) * params.limit)
    )
    total = session.scalar(select(func.count()).select_from(Incident).where(*conditions)) or 0
    items = session.scalars(page_query).all()
    return items, total


def get_incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"Incident {incident_id} not found.")
    return incident


def _apply_status(incident: Incident, status: Status, now: datetime) -> None:
    """Lifecycle stamps: MITIGATED stamps `mitigated_at` once; RESOLVED stamps `resolved_at` (and
    `mitigated_at` if it was never set); leaving RESOLVED (a reopening) clears `resolved_at`."""
    if status == Status.MITIGATED and incident.mitigated_at is None:
        incident.mitigated_at = now
    if status == Status.RESOLVED:
        if incident.status != Status.RESOLVED or incident.resolved_at is None:
            incident.resolved_at = now
        if incident.mitigated_at is None:
            incident.mitigated_at = now
    else:
        incident.resolved_at = None
    incident.status = status


def create_incident(session: Session, data: IncidentCreate) -> Incident:
    now = utcnow()
    incident = Incident(
        title=data.title,
        service=data.service,
        severity=data.severity,
        status=Status.OPEN,
        description=data.description,
        created_at=now,
        updated_at=now,
    )
    _apply_status(incident, data.status, now)
    session.add(incident)
    session.flush()
    return incident


def update_incident(session: Session, incident: Incident, data: IncidentUpdate) -> Incident:
    """Apply the fields that were sent. Returns the incident; `updated_at` moves only if something changed."""
    changes = data.model_dump(exclude_unset=True)
    now = utcnow()
    changed = False
    for field in ("title", "service", "severity", "description"):
        if field in changes and getattr(incident, field) != changes[field]:
            setattr(incident, field, changes[field])
            changed = True
    if "status" in changes and changes["status"] != incident.status:
        _apply_status(incident, changes["status"], now)
        changed = True
    if changed:
        incident.updated_at = now
        session.flush()
    return incident
