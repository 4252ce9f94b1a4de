"""Sign-in (the OAuth2 password flow, so the Authorize button of /docs works) and the signed-in account."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BeforeValidator

from app.deps import Public, SessionDep, SettingsDep, ViewerUser
from app.errors import responses
from app.schemas import Me, Token, refuse_invisible, with_visible_pattern
from app.services import auth

router = APIRouter(prefix="/api/auth", tags=["auth"])


class SignInForm(OAuth2PasswordRequestForm):
    """OAuth2's password form, whose `username` is the account's email: one holding a control or invisible
    character names no account and is refused (422), as an email is everywhere else."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[
            str,
            Form(json_schema_extra=with_visible_pattern, description="The account's email."),
            BeforeValidator(refuse_invisible),
        ],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


@router.post("/token", response_model=Token, dependencies=[Public], responses=responses(400, 413, 401, 422, 429))
async def sign_in(
    form: Annotated[SignInForm, Depends()], request: Request, session: SessionDep, settings: SettingsDep
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
