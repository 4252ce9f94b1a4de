"""Shared request dependencies, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.orm import Session

from app.database import get_session
from app.models import Incident
from app.services import incidents as incident_service

SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_current_incident(session: SessionDep, incident_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Incident:
    return incident_service.get_incident(session, incident_id)


CurrentIncident = Annotated[Incident, Depends(get_current_incident)]
