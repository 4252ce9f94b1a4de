"""The whole audit trail, for admins."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import AdminUser, SessionDep
from app.errors import responses
from app.schemas import AuditParams, EventPage, EventRead
from app.services import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=EventPage, responses=responses(401, 403, 422))
async def audit_log(params: Annotated[AuditParams, Query()], session: SessionDep, _admin: AdminUser) -> EventPage:
    """Every event, newest first; filter by actor, incident, action (repeatable) and time range."""
    items, total = await audit.audit_log(session, params)
    return EventPage.of([EventRead.model_validate(item) for item in items], total, params)
