"""Sign-in (the OAuth2 password flow, so the Authorize button of /docs works) and the signed-in account."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from app.deps import Public, SessionDep, SettingsDep, ViewerUser
from app.errors import responses
from app.schemas import Me, Token
from app.services import auth

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token, dependencies=[Public], responses=responses(400, 413, 401, 422, 429))
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, session: SessionDep, settings: SettingsDep
) -> Token:
    """Exchange an email (`username`) and password for a bearer token."""
    client = request.client.host if request.client else "unknown"
    user = await auth.sign_in(
        session, request.app.state.session_factory, settings, form.username, form.password, client
    )
    return Token(access_token=auth.issue_token(user, settings), expires_in=settings.access_token_minutes * 60)


@router.get("/me", response_model=Me, responses=responses(401))
async def me(user: ViewerUser) -> Me:
    return Me.model_validate(user)
