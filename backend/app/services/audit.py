"""The audit trail. Events are added in the caller's transaction, so a change and its event commit or roll back
together; nothing here updates or deletes an event."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.models import EventAction, Incident, IncidentEvent, User
from app.schemas import AuditParams, PageParams
from app.services import outbox
from app.services.paging import fetch_page


@dataclass(frozen=True)
class Actor:
    """Who is acting, and the request they act through (its id goes into every event)."""

    user: User
    request_id: str | None = None


# The person an event names, loaded in the same query, with only the columns an answer shows.
WITH_ACTOR = (joinedload(IncidentEvent.actor).load_only(User.id, User.display_name),)


def _plain(value: Any) -> Any:
    """A JSON-ready value for the `changes` column."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose values differ, as {"field": {"old": ..., "new": ...}}."""
    return {
        field: {"old": _plain(before.get(field)), "new": _plain(after[field])}
        for field in after
        if _plain(before.get(field)) != _plain(after[field])
    }


async def record(
    session: AsyncSession,
    incident: Incident | None,
    actor: Actor,
    action: EventAction,
    *,
    changes: dict[str, dict[str, Any]] | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Add one event to the trail, in the caller's transaction. `incident` is None for an act that concerns no
    one incident (an export), which is then in no incident's timeline."""
    event = IncidentEvent(
        incident_id=incident.id if incident is not None else None,
        actor=actor.user,
        action=action,
        changes=changes or None,
        note=note,
        details=details,
        request_id=actor.request_id,
    )
    if at is not None:
        event.created_at = at
    session.add(event)
    await session.flush()
    if incident is not None:  # an export is in the audit log only, not in the live feed
        outbox.add(session, event, incident)
    return event


async def incident_events(
    session: AsyncSession, incident_id: int, params: PageParams
) -> tuple[Sequence[IncidentEvent], int]:
    """One page of an incident's timeline, oldest first."""
    conditions = [IncidentEvent.incident_id == incident_id]
    return await fetch_page(session, IncidentEvent, conditions, [IncidentEvent.id.asc()], params, options=WITH_ACTOR)


def _audit_filters(params: AuditParams) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if params.actor_id is not None:
        conditions.append(IncidentEvent.actor_id == params.actor_id)
    if params.incident_id is not None:
        conditions.append(IncidentEvent.incident_id == params.incident_id)
    if params.action:
        conditions.append(IncidentEvent.action.in_(params.action))
    if params.since is not None:
        conditions.append(IncidentEvent.created_at >= params.since)
    if params.until is not None:
        conditions.append(IncidentEvent.created_at < params.until)
    return conditions


NEWEST_FIRST = (IncidentEvent.created_at.desc(), IncidentEvent.id.desc())


async def audit_log(session: AsyncSession, params: AuditParams) -> tuple[Sequence[IncidentEvent], int]:
    """Every event, newest first, filtered by actor, incident, action and time range."""
    return await fetch_page(session, IncidentEvent, _audit_filters(params), NEWEST_FIRST, params, options=WITH_ACTOR)
