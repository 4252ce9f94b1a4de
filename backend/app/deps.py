"""Shared request dependencies, as `Annotated` aliases.

Every route declares who may call it through exactly one of these: `Public` (no sign-in), or a role
(`ViewerUser`, `ResponderUser`, `AdminUser`, or the `*Actor` forms that also carry the request id for the audit
trail). The route x role test reads these declarations from the app's routes.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in its thread pool, one hop per dependency,
which at the request rates the API serves costs more than the work itself.
"""

import re
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.database import get_session
from app.errors import AppError
from app.etags import EntityTags, parse_entity_tags
from app.models import Incident, Role, User
from app.security import InvalidToken, decode_access_token
from app.services import incidents as incident_service
from app.services import tickets as ticket_service
from app.services.audit import Actor

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

bearer_token = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def _unauthorized(detail: str) -> AppError:
    return AppError(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(bearer_token)]
) -> User:
    """The signed-in user: a valid, unexpired token whose account exists and is active, else 401. (The settings are
    read from the app, not through `SettingsDep`: one dependency fewer to solve on every request.)"""
    if not token:
        raise _unauthorized("Sign in first: this needs a bearer token.")
    try:
        claims = decode_access_token(token, request.app.state.settings.secret_key)
    except InvalidToken as exc:
        raise _unauthorized("The access token is invalid or has expired. Sign in again.") from exc
    subject = claims.subject
    user = None
    if subject.isdecimal() and len(subject) < 19:
        user = await session.scalar(select(User).where(User.id == int(subject)))
    if user is None or not user.is_active:
        raise _unauthorized("The account behind this token does not exist or is disabled.")
    if claims.version != user.token_version:
        raise _unauthorized("This token was issued before the account's password or access changed. Sign in again.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


class RequireRole:
    """A route's access policy: the least role that may call it."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, user: CurrentUser) -> User:
        if user.role.rank < self.role.rank:
            raise AppError(403, f"This needs the {self.role.value} role; you are signed in as {user.role.value}.")
        return user

    def __repr__(self) -> str:
        return f"RequireRole({self.role.value})"


async def public() -> None:
    """The policy of the routes anyone may call (sign-in, health)."""


Public = Depends(public)
ViewerUser = Annotated[User, Depends(RequireRole(Role.VIEWER))]
ResponderUser = Annotated[User, Depends(RequireRole(Role.RESPONDER))]
AdminUser = Annotated[User, Depends(RequireRole(Role.ADMIN))]


async def get_responder_actor(request: Request, user: ResponderUser) -> Actor:
    return Actor(user=user, request_id=request.state.request_id)


async def get_admin_actor(request: Request, user: AdminUser) -> Actor:
    return Actor(user=user, request_id=request.state.request_id)


ResponderActor = Annotated[Actor, Depends(get_responder_actor)]
AdminActor = Annotated[Actor, Depends(get_admin_actor)]

# A path id is written the one way: decimal digits without a sign, leading zero or white space (`+1` and `01` are no
# names of incident 1).
_CANONICAL_ID = re.compile(r"[1-9][0-9]*")


def _canonical_id(value: object) -> object:
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        raise PydanticCustomError("int_not_canonical", "Write the id in decimal digits, without sign or leading zero")
    return value


PathId = Annotated[int, Path(ge=1, le=2**63 - 1), BeforeValidator(_canonical_id)]
IncidentId = PathId


def require_admin_for_archived(user: User, archived: bool) -> None:
    if archived and user.role != Role.ADMIN:
        raise AppError(403, "Only admins can see archived incidents.")


ParamsT = TypeVar("ParamsT", bound=BaseModel)


def resolve_commander(user: User, params: ParamsT) -> ParamsT:
    """The list's (or export's) parameters with `commander=me` as the caller's id: the services see ids only."""
    if getattr(params, "commander", None) == "me":
        return params.model_copy(update={"commander": user.id})
    return params


async def get_live_incident(session: SessionDep, _user: CurrentUser, incident_id: IncidentId) -> Incident:
    """An incident that is not archived, else 404; only for a signed-in caller, so that the answer to an
    anonymous one (401) says nothing of which incidents exist."""
    return await incident_service.get_incident(session, incident_id)


async def get_visible_incident(
    session: SessionDep,
    user: ViewerUser,
    incident_id: IncidentId,
    archived: Annotated[bool, Query(description="Admins only: also find an archived incident.")] = False,
) -> Incident:
    """An incident as the caller may see it: archived ones only for an admin who asks with archived=true."""
    require_admin_for_archived(user, archived)
    return await incident_service.get_incident(session, incident_id, include_archived=archived)


async def get_visible_incident_item(
    session: SessionDep,
    user: ViewerUser,
    incident_id: IncidentId,
    archived: Annotated[bool, Query(description="Admins only: also find an archived incident.")] = False,
) -> dict[str, Any]:
    """The same incident as `get_visible_incident`, with the same checks in the same order, read as plain columns
    (`incident_service.read_incident`) for a route that only shows it."""
    require_admin_for_archived(user, archived)
    return await incident_service.read_incident(session, incident_id, include_archived=archived)


async def get_any_incident(session: SessionDep, _admin: AdminUser, incident_id: IncidentId) -> Incident:
    """An incident, archived or not (admins only)."""
    return await incident_service.get_incident(session, incident_id, include_archived=True)


LiveIncident = Annotated[Incident, Depends(get_live_incident)]
VisibleIncident = Annotated[Incident, Depends(get_visible_incident)]
VisibleIncidentItem = Annotated[dict[str, Any], Depends(get_visible_incident_item)]
AnyIncident = Annotated[Incident, Depends(get_any_incident)]


# --- CSV export: a bearer token or a download ticket ---------------------------------------------------------


async def get_download_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
    ticket: Annotated[
        str | None,
        Query(
            max_length=100,
            description="A download ticket (`POST /api/download-tickets`), instead of the Authorization header.",
        ),
    ] = None,
) -> User:
    """The caller of an export: the bearer token's account, or the account of a download ticket for exactly this
    path and query (used up by this request). With both, they must name the same account."""
    if ticket is None:
        return await get_current_user(request, session, token)
    query = ticket_service.canonical_query(request.query_params.multi_items())
    user = await ticket_service.redeem(session, ticket, request.url.path, query)
    if token and (await get_current_user(request, session, token)).id != user.id:
        raise _unauthorized("The download ticket belongs to another account.")
    return user


class RequireDownloadRole(RequireRole):
    """A route's access policy, for a caller signed in by a bearer token or by a download ticket."""

    async def __call__(self, user: Annotated[User, Depends(get_download_user)]) -> User:  # type: ignore[override]
        return await super().__call__(user)


DownloadViewer = Annotated[User, Depends(RequireDownloadRole(Role.VIEWER))]
DownloadAdmin = Annotated[User, Depends(RequireDownloadRole(Role.ADMIN))]


# --- Conditional requests and idempotent creates ---------------------------------------------------------------


# What the schema says the two headers hold: `*` or a list of entity tags. The parser (app.etags) is the authority and
# also takes what RFC 9110 allows beyond this (tabs, empty list elements, obs-text inside a tag).
ENTITY_TAGS_PATTERN = r'^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$'


def _entity_tags(request: Request, name: str) -> EntityTags | None:
    """The header's entity tags (several lines of it count as one list), None when absent, 422 when malformed."""
    lines = request.headers.getlist(name)
    if not lines:
        return None
    try:
        return parse_entity_tags(", ".join(lines))
    except ValueError as exc:
        error = {"loc": ("header", name), "msg": f"Invalid {name}: {exc}", "type": "etag_invalid"}
        raise RequestValidationError([error]) from exc


# Typed `str` with a default of None (not `str | None`), so that the schema says "a string", not "or null".
IfMatchHeader = Annotated[
    str,
    Header(
        alias="If-Match",
        json_schema_extra={"pattern": ENTITY_TAGS_PATTERN},
        description='Change only if the incident is at one of these versions: its ETag (`"3"`), a list '
        '(`"3", "4"`) or `*`. Otherwise 412, with the current incident.',
    ),
]
IfNoneMatchHeader = Annotated[
    str,
    Header(
        alias="If-None-Match",
        json_schema_extra={"pattern": ENTITY_TAGS_PATTERN},
        description='304 Not Modified (no body) if the incident is at one of these versions: its ETag (`"3"`), '
        "a list, or `*`.",
    ),
]


async def get_if_match(request: Request, _if_match: IfMatchHeader = None) -> EntityTags | None:  # type: ignore[assignment]
    return _entity_tags(request, "If-Match")


async def get_if_none_match(request: Request, _if_none_match: IfNoneMatchHeader = None) -> EntityTags | None:  # type: ignore[assignment]
    return _entity_tags(request, "If-None-Match")


IfMatch = Annotated[EntityTags | None, Depends(get_if_match)]
IfNoneMatch = Annotated[EntityTags | None, Depends(get_if_none_match)]

# Visible ASCII and spaces, as a pattern the schema shows too: no control characters.
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]+$"

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1-255 printable ASCII characters (letters, digits, punctuation, spaces). The same key from "
        "the same account within 24 hours answers what the first request answered and creates nothing; with "
        "another body it is a 422, while the first request is still running a 409.",
    ),
]
