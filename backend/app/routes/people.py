"""People who can be named on an incident, for every signed-in role (the accounts themselves are admin-only)."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import SessionDep, ViewerUser
from app.errors import responses
from app.schemas import PeoplePage, PeopleParams, UserRef
from app.services import people as people_service

router = APIRouter(prefix="/api/people", tags=["people"])


@router.get("", response_model=PeoplePage, responses=responses(401, 403, 422))
async def list_people(params: Annotated[PeopleParams, Query()], session: SessionDep, _user: ViewerUser) -> PeoplePage:
    """Active people by display name, as `{id, display_name}` (who can be commander); `search` narrows by name."""
    rows = await people_service.list_people(session, params)
    return PeoplePage(items=[UserRef(id=person_id, display_name=name) for person_id, name in rows])
