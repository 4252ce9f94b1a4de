"""The HTTP layer for incidents: parse, call the service, serialise. No business rules here."""

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import (
    AdminActor,
    AnyIncident,
    IdempotencyKey,
    IfMatch,
    IfNoneMatch,
    LiveIncident,
    ResponderActor,
    SessionDep,
    SettingsDep,
    ViewerUser,
    VisibleIncident,
    VisibleIncidentItem,
    require_admin_for_archived,
    resolve_commander,
)
from app.errors import responses
from app.etags import etag
from app.models import User
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
from app.services import audit, idempotency
from app.services import incidents as incident_service
from app.services.paging import InvalidCursor

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

# Every route here needs a token (401) and a role (403).
SIGNED_IN = (401, 403)

# The answers that carry one incident carry its ETag.
_ETAG = {
    "ETag": {
        "description": 'The incident\'s version, quoted (`"3"`): a strong entity tag.',
        "schema": {"type": "string"},
    }
}
WITH_ETAG: dict[int | str, dict[str, Any]] = {200: {"headers": _ETAG}}
CREATED_WITH_ETAG: dict[int | str, dict[str, Any]] = {201: {"headers": _ETAG}}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: If-None-Match names the incident's version. No body.", "headers": _ETAG}
}


def _json_with_etag(
    read: IncidentRead, status_code: int = status.HTTP_200_OK, *, location: str | None = None
) -> Response:
    """The incident as FastAPI would answer it for the route's `response_model` (the same bytes, and the same headers
    in the same order: Location, then ETag), serialised here in one step: FastAPI's own path would check the model
    against the response model again before serialising it, then copy the headers set on the route's `Response`."""
    response = Response(read.model_dump_json(), status_code=status_code, media_type="application/json")
    if location is not None:
        response.headers["Location"] = location
    response.headers["ETag"] = etag(read.version)
    return response


async def _at_most_once(
    request: Request,
    session: AsyncSession,
    user: User,
    key: str,
    data: BaseModel,
    create: Callable[[], Awaitable[tuple[BaseModel, str | None]]],
    *,
    with_etag: bool,
) -> Response:
    """Run `create` (which gives the answer's body and Location) once per Idempotency-Key; a repeat gets the first
    answer again (services/idempotency.py)."""
    factory = request.app.state.session_factory
    path = request.url.path.rstrip("/")
    claim = await idempotency.claim(
        factory, user.id, key, request.method, path, idempotency.fingerprint(data.model_dump(mode="json"))
    )
    if claim.answer is not None:
        answer = claim.answer
    else:
        assert claim.key_id is not None
        try:
            model, location = await create()
            answer = idempotency.StoredAnswer(status.HTTP_201_CREATED, model.model_dump_json(), location)
            await idempotency.complete(session, claim.key_id, answer.status_code, answer.body, answer.location)
        except BaseException as error:
            await idempotency.release(session, factory, claim.key_id, request.app.state.pending_releases, error)
            raise
    headers = {"Location": answer.location} if answer.location else {}
    if with_etag:
        headers["ETag"] = etag(json.loads(answer.body)["version"])
    return Response(answer.body, status_code=answer.status_code, headers=headers, media_type="application/json")


# Where a route looks an incident up, the caller comes first in its signature: dependencies resolve in order, so a
# caller whose role is too low gets 403 before the look-up can answer 404.


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentRead,
    responses=CREATED_WITH_ETAG | responses(400, 413, 415, *SIGNED_IN, 409, 422),
)
@router.post("", status_code=status.HTTP_201_CREATED, response_model=IncidentRead, include_in_schema=False)
async def create_incident(
    data: IncidentCreate,
    session: SessionDep,
    actor: ResponderActor,
    request: Request,
    idempotency_key: IdempotencyKey = None,  # type: ignore[assignment]
) -> Any:
    async def create() -> tuple[IncidentRead, str]:
        incident = await incident_service.create_incident(session, data, actor)
        return IncidentRead.model_validate(incident), f"/api/incidents/{incident.id}"

    if idempotency_key is not None:
        return await _at_most_once(request, session, actor.user, idempotency_key, data, create, with_etag=True)
    read, location = await create()
    return _json_with_etag(read, status.HTTP_201_CREATED, location=location)


@router.get("/", response_model=IncidentPage, responses=responses(*SIGNED_IN, 422))
@router.get("", response_model=IncidentPage, include_in_schema=False)
async def list_incidents(
    params: Annotated[IncidentListParams, Query()], session: SessionDep, user: ViewerUser, settings: SettingsDep
) -> IncidentPage:
    require_admin_for_archived(user, params.archived)
    params = resolve_commander(user, params)
    try:
        result = await incident_service.list_incidents(session, params, count_bound=settings.list_count_limit)
    except InvalidCursor as exc:
        error = {"loc": ("query", "cursor"), "msg": f"Invalid cursor: {exc}", "type": "cursor_invalid"}
        raise RequestValidationError([error]) from exc
    return IncidentPage.of_result([IncidentRead.model_validate(item) for item in result.items], result, params)


@router.get(
    "/{incident_id}", response_model=IncidentRead, responses=WITH_ETAG | NOT_MODIFIED | responses(*SIGNED_IN, 404, 422)
)
async def get_incident(incident: VisibleIncidentItem, if_none_match: IfNoneMatch) -> Response:
    version = incident["version"]
    if if_none_match is not None and if_none_match.matches_weakly(version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(version)})
    return _json_with_etag(IncidentRead.model_validate(incident))


@router.patch(
    "/{incident_id}",
    response_model=IncidentRead,
    responses=WITH_ETAG | responses(400, 413, 415, *SIGNED_IN, 404, 412, 422),
)
async def update_incident(
    actor: ResponderActor,
    data: IncidentUpdate,
    incident: LiveIncident,
    if_match: IfMatch,
    session: SessionDep,
) -> Response:
    updated = await incident_service.update_incident(session, incident, data, actor, if_match)
    return _json_with_etag(IncidentRead.model_validate(updated))


@router.delete(
    "/{incident_id}", response_model=IncidentRead, responses=WITH_ETAG | responses(*SIGNED_IN, 404, 412, 422)
)
async def archive_incident(
    actor: AdminActor, incident: LiveIncident, if_match: IfMatch, session: SessionDep
) -> Response:
    """Archive the incident: it stays, with its history, but only admins can see it (`archived=true`)."""
    archived = await incident_service.archive_incident(session, incident, actor, if_match)
    return _json_with_etag(IncidentRead.model_validate(archived))


@router.post(
    "/{incident_id}/restore",
    response_model=IncidentRead,
    responses=WITH_ETAG | responses(*SIGNED_IN, 404, 409, 412, 422),
)
async def restore_incident(
    actor: AdminActor, incident: AnyIncident, if_match: IfMatch, session: SessionDep
) -> Response:
    restored = await incident_service.restore_incident(session, incident, actor, if_match)
    return _json_with_etag(IncidentRead.model_validate(restored))


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
    responses=responses(400, 413, 415, *SIGNED_IN, 404, 409, 422),
)
async def add_note(
    actor: ResponderActor,
    data: NoteCreate,
    incident: LiveIncident,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,  # type: ignore[assignment]
) -> Any:
    """Add a note to the incident's timeline. A note is not a change to the incident: its version stays."""

    async def create() -> tuple[EventRead, None]:
        return EventRead.model_validate(await incident_service.add_note(session, incident, actor, data.text)), None

    if idempotency_key is not None:
        return await _at_most_once(request, session, actor.user, idempotency_key, data, create, with_etag=False)
    return (await create())[0]
