"""Account management, for admins."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import AdminUser, PathId, SessionDep
from app.errors import responses
from app.schemas import PageParams, UserCreate, UserPage, UserRead, UserUpdate
from app.services import users as user_service

router = APIRouter(prefix="/api/users", tags=["users"])

UserId = PathId


@router.get("", response_model=UserPage, responses=responses(401, 403, 422))
async def list_users(params: Annotated[PageParams, Query()], session: SessionDep, _admin: AdminUser) -> UserPage:
    items, total = await user_service.list_users(session, params)
    return UserPage.of([UserRead.model_validate(user) for user in items], total, params)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=responses(400, 413, 415, 401, 403, 409, 422),
)
async def create_user(data: UserCreate, session: SessionDep, _admin: AdminUser, response: Response) -> UserRead:
    user = await user_service.create_user(session, data)
    response.headers["Location"] = f"/api/users/{user.id}"
    return UserRead.model_validate(user)


@router.get("/{user_id}", response_model=UserRead, responses=responses(401, 403, 404, 422))
async def get_user(user_id: UserId, session: SessionDep, _admin: AdminUser) -> UserRead:
    return UserRead.model_validate(await user_service.get_user(session, user_id))


@router.patch("/{user_id}", response_model=UserRead, responses=responses(400, 413, 415, 401, 403, 404, 409, 422))
async def update_user(user_id: UserId, data: UserUpdate, session: SessionDep, _admin: AdminUser) -> UserRead:
    """Change role, display name or password, or deactivate (`is_active: false`). The last active admin
    cannot be demoted or deactivated."""
    user = await user_service.get_user(session, user_id)
    return UserRead.model_validate(await user_service.update_user(session, user, data))
