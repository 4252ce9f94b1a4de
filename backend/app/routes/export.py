"""CSV exports of the incident list and the audit log, and the download tickets a browser fetches them with.

Registered before the incidents router, so that `/api/incidents/export` is not read as `/api/incidents/{id}`.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, get_origin
from urllib.parse import parse_qsl, urlencode

import anyio
from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.deps import (
    DownloadAdmin,
    DownloadViewer,
    SessionDep,
    ViewerUser,
    require_admin_for_archived,
    resolve_commander,
)
from app.errors import AppError, responses
from app.models import Role, User
from app.schemas import AuditExportParams, DownloadTicketCreate, DownloadTicketRead, IncidentExportParams
from app.services import export as export_service
from app.services import incidents as incident_service
from app.services import tickets as ticket_service
from app.services.audit import Actor

router = APIRouter(tags=["export"])


class CsvResponse(StreamingResponse):
    """A streamed CSV download. However the stream ends (the last row, the client gone, an error), the export's read
    is closed and `on_end` runs (shielded from cancellation): the place to log the export."""

    media_type = "text/csv"  # Starlette adds "; charset=utf-8"

    def __init__(self, export: export_service.CsvExport, filename: str, on_end: Callable[[], Awaitable[None]]) -> None:
        super().__init__(
            export.chunks(),
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )
        self.export = export
        self.on_end = on_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.body_iterator.aclose()  # a stream cut short stops reading here, not when collected
                    await self.export.close()
                finally:
                    await self.on_end()


CSV_CONTENT = {
    200: {
        "description": "The CSV file (RFC 4180, CRLF line ends, UTF-8), streamed, as an attachment named after the "
        'UTC time of the export: `Content-Disposition: attachment; filename="incidents-20261201T120000Z.csv"`.',
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _csv_response(
    request: Request, user: User, export: export_service.CsvExport, filters: dict[str, Any]
) -> CsvResponse:
    actor = Actor(user=user, request_id=request.state.request_id)
    session_factory = request.app.state.session_factory

    async def log_export() -> None:
        # In a transaction of its own: the request's unit of work ended before the first row was sent.
        async with session_factory() as session, session.begin():
            await export_service.record_export(session, actor, export, filters)

    return CsvResponse(export, f"{export.kind}-{_timestamp()}.csv", log_export)


@router.get(
    "/api/incidents/export",
    status_code=status.HTTP_200_OK,
    response_class=CsvResponse,
    responses={**CSV_CONTENT, **responses(401, 403, 422)},
)
async def export_incidents(
    request: Request, user: DownloadViewer, params: Annotated[IncidentExportParams, Query()], session: SessionDep
) -> CsvResponse:
    """The incidents the list shows for the same filters, search, sort and `archived`, as CSV: every one of them,
    not one page. Sign in with the Authorization header or a download ticket (`ticket=`)."""
    require_admin_for_archived(user, params.archived)  # type: ignore[attr-defined]
    params = resolve_commander(user, params)
    # The search is planned on the request's session; the rows are read on the export's own connection.
    conditions = await incident_service.list_conditions(session, params)
    export = export_service.incident_export(request.app.state.engine, params, conditions)
    return _csv_response(request, user, export, export_service.export_filters(params))


@router.get(
    "/api/audit/export",
    status_code=status.HTTP_200_OK,
    response_class=CsvResponse,
    responses={**CSV_CONTENT, **responses(401, 403, 422)},
)
async def export_audit_log(
    request: Request, user: DownloadAdmin, params: Annotated[AuditExportParams, Query()]
) -> CsvResponse:
    """The audit log for the same filters as `GET /api/audit`, newest first, as CSV (admins)."""
    export = export_service.audit_export(request.app.state.engine, params)
    return _csv_response(request, user, export, export_service.export_filters(params))


# --- download tickets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """What a download ticket may be asked for: an export's parameters and who may download it."""

    params: type[BaseModel]
    role: Role
    check: Callable[[User, Any], None] = lambda _user, _params: None


EXPORTS = {
    "/api/incidents/export": Export(
        IncidentExportParams, Role.VIEWER, lambda user, params: require_admin_for_archived(user, params.archived)
    ),
    "/api/audit/export": Export(AuditExportParams, Role.ADMIN),
}


def _parse_query(model: type[BaseModel], pairs: list[tuple[str, str]]) -> BaseModel:
    """The query string read as the export route reads it (a repeatable parameter as a list); 422 as the route
    would answer it, located in the body's `query`."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        given = [value for key, value in pairs if key == name]
        if given:
            values[name] = given if get_origin(field.annotation) is list else given[-1]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", "query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from exc


@router.post(
    "/api/download-tickets",
    status_code=status.HTTP_201_CREATED,
    response_model=DownloadTicketRead,
    responses=responses(400, 413, 415, 401, 403, 422),
)
async def create_download_ticket(
    request: Request, user: ViewerUser, data: DownloadTicketCreate, session: SessionDep
) -> DownloadTicketRead:
    """A ticket to download one export (its path and query) once, within 60 seconds, as the signed-in account:
    navigate to the answer's `url` (after the API's address). The export's parameters and the caller's right to it
    are checked now, so that a refusal reaches the page as a problem rather than as a download."""
    export = EXPORTS[data.path]
    pairs = parse_qsl(data.query.removeprefix("?"), keep_blank_values=True)
    params = _parse_query(export.params, pairs)
    if user.role.rank < export.role.rank:
        raise AppError(403, f"This needs the {export.role.value} role; you are signed in as {user.role.value}.")
    export.check(user, params)
    await ticket_service.forget_expired(request.app.state.session_factory)
    query = ticket_service.canonical_query(pairs)
    ticket, row = await ticket_service.issue(session, user, data.path, query)
    url = f"{data.path}?{query + '&' if query else ''}{urlencode({ticket_service.TICKET_PARAMETER: ticket})}"
    return DownloadTicketRead(
        ticket=ticket, url=url, expires_at=row.expires_at, expires_in=ticket_service.TICKET_SECONDS
    )
