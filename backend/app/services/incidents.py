"""Incident use cases. Functions here flush but never commit: the request's unit of work does that."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, case, or_
from sqlalchemy.orm import Session

from app.database import utcnow
from app.errors import AppError, NotFound
from app.models import EventAction, Incident, IncidentEvent, Status
from app.schemas import IncidentCreate, IncidentListParams, IncidentUpdate
from app.services import audit
from app.services.audit import Actor
from app.services.paging import fetch_page

# What an event records of an incident: the fields people set and the lifecycle stamps that follow from them.
TRACKED_FIELDS = ("title", "service", "severity", "status", "description", "mitigated_at", "resolved_at")

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
    # Archived incidents are in no list but the archived one.
    conditions: list[ColumnElement[bool]] = [
        Incident.archived_at.is_not(None) if params.archived else Incident.archived_at.is_(None)
    ]
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


def _ordering(params: IncidentListParams) -> tuple[ColumnElement, ...]:
    """The list's order: the sort column, then `id` in the same direction as the tie-breaker."""
    column = SORT_COLUMNS[params.sort_by]
    ordering = (column.asc(), Incident.id.asc()) if params.sort_order == "asc" else (column.desc(), Incident.id.desc())
    return ordering[:1] if params.sort_by == "id" else ordering


def list_incidents(session: Session, params: IncidentListParams) -> tuple[Sequence[Incident], int]:
    """One page of incidents and the total that match, ordered with `id` as the tie-breaker."""
    return fetch_page(session, Incident, _filters(params), _ordering(params), params)


def get_incident(session: Session, incident_id: int, *, include_archived: bool = False) -> Incident:
    """The incident, or NotFound; an archived one is found only when asked for."""
    incident = session.get(Incident, incident_id)
    if incident is None or (incident.archived_at is not None and not include_archived):
        raise NotFound(f"Incident {incident_id} not found.")
    return incident


def _snapshot(incident: Incident) -> dict:
    return {field: getattr(incident, field) for field in TRACKED_FIELDS}


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


def create_incident(session: Session, data: IncidentCreate, actor: Actor) -> Incident:
    now = utcnow()
    incident = Incident(
        title=data.title,
        service=data.service,
        severity=data.severity,
        status=Status.OPEN,
        description=data.description,
        created_at=now,
        updated_at=now,
        created_by=actor.user,
        updated_by=actor.user,
    )
    _apply_status(incident, data.status, now)
    session.add(incident)
    session.flush()
    audit.record(session, incident, actor, EventAction.CREATED, changes=audit.diff({}, _snapshot(incident)), at=now)
    return incident


def update_incident(session: Session, incident: Incident, data: IncidentUpdate, actor: Actor) -> Incident:
    """Apply the fields that were sent. Only a real change moves `updated_at` and writes an event."""
    changes = data.model_dump(exclude_unset=True)
    before = _snapshot(incident)
    now = utcnow()
    for field in ("title", "service", "severity", "description"):
        if field in changes:
            setattr(incident, field, changes[field])
    if "status" in changes and changes["status"] != incident.status:
        _apply_status(incident, changes["status"], now)
    changed = audit.diff(before, _snapshot(incident))
    if changed:
        incident.updated_at = now
        incident.updated_by = actor.user
        session.flush()
        audit.record(session, incident, actor, EventAction.UPDATED, changes=changed, at=now)
    return incident


def add_note(session: Session, incident: Incident, actor: Actor, text: str) -> IncidentEvent:
    return audit.record(session, incident, actor, EventAction.NOTE_ADDED, note=text)


def archive_incident(session: Session, incident: Incident, actor: Actor) -> Incident:
    """Hide the incident from everyone but admins; the row and its history stay."""
    now = utcnow()
    incident.archived_at = now
    incident.archived_by = actor.user
    session.flush()
    changes = audit.diff({"archived_at": None}, {"archived_at": now})
    audit.record(session, incident, actor, EventAction.ARCHIVED, changes=changes, at=now)
    return incident


def restore_incident(session: Session, incident: Incident, actor: Actor) -> Incident:
    if incident.archived_at is None:
        raise AppError(409, f"Incident {incident.id} is not archived.")
    before = incident.archived_at
    incident.archived_at = None
    incident.archived_by = None
    session.flush()
    changes = audit.diff({"archived_at": before}, {"archived_at": None})
    audit.record(session, incident, actor, EventAction.RESTORED, changes=changes)
    return incident
