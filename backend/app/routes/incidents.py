"""The HTTP layer for incidents: parse, call the service, serialise. No business rules here."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import CurrentIncident, SessionDep
from app.errors import responses
from app.schemas import IncidentCreate, IncidentListParams, IncidentPage, IncidentRead, IncidentUpdate
from app.services import incidents as incident_service

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=IncidentRead, responses=responses(400, 422))
@router.post("", status_code=status.HTTP_201_CREATED, response_model=IncidentRead, include_in_schema=False)
def create_incident(data: IncidentCreate, session: SessionDep, response: Response) -> IncidentRead:
    incident = incident_service.create_incident(session, data)
    response.headers["Location"] = f"/api/incidents/{incident.id}"
    return IncidentRead.model_validate(incident)


@router.get("/", response_model=IncidentPage, responses=responses(422))
@router.get("", response_model=IncidentPage, include_in_schema=False)
def list_incidents(params: Annotated[IncidentListParams, Query()], session: SessionDep) -> IncidentPage:
    items, total = incident_service.list_incidents(session, params)
    return IncidentPage(
        items=[IncidentRead.model_validate(item) for item in items],
        total=total,
        page=params.page,
        limit=params.limit,
        pages=-(-total // params.limit),
    )


@router.get("/{incident_id}", response_model=IncidentRead, responses=responses(404, 422))
def get_incident(incident: CurrentIncident) -> IncidentRead:
    return IncidentRead.model_validate(incident)


@router.patch("/{incident_id}", response_model=IncidentRead, responses=responses(400, 404, 422))
def update_incident(data: IncidentUpdate, incident: CurrentIncident, session: SessionDep) -> IncidentRead:
    return IncidentRead.model_validate(incident_service.update_incident(session, incident, data))
