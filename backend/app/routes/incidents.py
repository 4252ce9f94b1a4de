"""The HTTP layer for incidents: parse, call the service, serialise. No business rules here."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError

from app.deps import (
    AdminActor,
    AnyIncident,
    LiveIncident,
    ResponderActor,
    SessionDep,
    SettingsDep,
    ViewerUser,
    VisibleIncident,
    require_admin_for_archived,
)
from app.errors import responses
from app.schemas import (
    EventListParams,
    EventPage,
    EventRead,
    IncidentCreate,
    IncidentListParams,
    IncidentPage,
    IncidentRead,
    IncidentUpdate,
    NoteCreate,
)
from app.services import audit
from app.services import incidents as incident_service
from app.services.paging import InvalidCursor

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

# Every route here needs a token (401) and a role (403).
SIGNED_IN = (401, 403)

# Where a route looks an incident up, the caller comes first in its signature: dependencies resolve in order, so a
# caller whose role is too low gets 403 before the look-up can answer 404.


@router.post(
    "/", status_code=status.HTTP_201_CREATED, response_model=IncidentRead, responses=responses(400, *SIGNED_IN, 422)
)
@router.post("", status_code=status.HTTP_201_CREATED, response_model=IncidentRead, include_in_schema=False)
async def create_incident(
    data: IncidentCreate, session: SessionDep, actor: ResponderActor, response: Response
) -> IncidentRead:
    incident = await incident_service.create_incident(session, data, actor)
    response.headers["Location"] = f"/api/incidents/{incident.id}"
    return IncidentRead.model_validate(incident)


@router.get("/", response_model=IncidentPage, responses=responses(*SIGNED_IN, 422))
@router.get("", response_model=IncidentPage, include_in_schema=False)
async def list_incidents(
    params: Annotated[IncidentListParams, Query()], session: SessionDep, user: ViewerUser, settings: SettingsDep
) -> IncidentPage:
    require_admin_for_archived(user, params.archived)
    try:
        result = await incident_service.list_incidents(session, params, count_bound=settings.list_count_limit)
    except InvalidCursor as exc:
        error = {"loc": ("query", "cursor"), "msg": f"Invalid cursor: {exc}", "type": "cursor_invalid"}
        raise RequestValidationError([error]) from exc
    return IncidentPage.of_result([IncidentRead.model_validate(item) for item in result.items], result, params)


@router.get("/{incident_id}", response_model=IncidentRead, responses=responses(*SIGNED_IN, 404, 422))
async def get_incident(incident: VisibleIncident) -> IncidentRead:
    return IncidentRead.model_validate(incident)


@router.patch("/{incident_id}", response_model=IncidentRead, responses=responses(400, *SIGNED_IN, 404, 422))
async def update_incident(
    actor: ResponderActor, data: IncidentUpdate, incident: LiveIncident, session: SessionDep
) -> IncidentRead:
    return IncidentRead.model_validate(await incident_service.update_incident(session, incident, data, actor))


@router.delete("/{incident_id}", response_model=IncidentRead, responses=responses(*SIGNED_IN, 404, 422))
async def archive_incident(actor: AdminActor, incident: LiveIncident, session: SessionDep) -> IncidentRead:
    """Archive the incident: it stays, with its history, but only admins can see it (`archived=true`)."""
    return IncidentRead.model_validate(await incident_service.archive_incident(session, incident, actor))


@router.post("/{incident_id}/restore", response_model=IncidentRead, responses=responses(*SIGNED_IN, 404, 409, 422))
async def restore_incident(actor: AdminActor, incident: AnyIncident, session: SessionDep) -> IncidentRead:
    return IncidentRead.model_validate(await incident_service.restore_incident(session, incident, actor))


@router.get("/{incident_id}/events", response_model=EventPage, responses=responses(*SIGNED_IN, 404, 422))
async def list_events(
    incident: VisibleIncident, params: Annotated[EventListParams, Query()], session: SessionDep
) -> EventPage:
    """The incident's timeline, oldest first."""
    items, total = await audit.incident_events(session, incident.id, params)
    return EventPage.of([EventRead.model_validate(item) for item in items], total, params)


@router.post(
    "/{incident_id}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    responses=responses(400, *SIGNED_IN, 404, 422),
)
async def add_note(actor: ResponderActor, data: NoteCreate, incident: LiveIncident, session: SessionDep) -> EventRead:
    return EventRead.model_validate(await incident_service.add_note(session, incident, actor, data.text))
