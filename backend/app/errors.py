"""One error shape for the whole API: RFC 9457 problem details (`application/problem+json`)."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.database import WROTE_STATE, is_lost_connection, is_unreachable
from app.schemas import Problem

logger = logging.getLogger("app.errors")

PROBLEM_JSON = "application/problem+json"
# Any request can have a URL or headers over the limits (414, 431, app/request_limits.py), and any operation can fail
# unexpectedly (500) or find the database not answering (503).
ALWAYS_POSSIBLE = (414, 431, 500, 503)
# Seconds a client is asked to wait before trying again while the database does not answer.
RETRY_AFTER_SECONDS = 5
# A write that got this answer may have been committed or not (the database stopped answering mid-way): sending it
# again with the same Idempotency-Key is what makes that safe.
UNAVAILABLE_DETAIL = (
    "The database is not answering. Try again shortly; a create sent again with the same Idempotency-Key is "
    "never done twice."
)
# The methods whose request is tried once more when its connection was lost (see UnexpectedErrorMiddleware).
RETRIED_METHODS = ("GET", "HEAD")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


class AppError(Exception):
    """An error the API reports on purpose. Raised by services and dependencies, rendered by one handler."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        # More members of the problem body (JSON-ready values), e.g. `current` on a 412.
        self.extra = extra or {}


class NotFound(AppError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, detail)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body = Problem(type=type_, title=title or HTTPStatus(status).phrase, status=status, detail=detail, **extra)
    return ProblemResponse(jsonable_encoder(body.body()), status_code=status, headers=headers)


# The answers that always say when to try again.
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_HEADERS = {429: _RETRY_AFTER, 503: _RETRY_AFTER}
# The problems whose body holds more than the Problem schema says (their schemas: main._register_problem_schema).
PROBLEM_SCHEMAS = {412: "PreconditionFailedProblem"}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem responses a route can return, besides those any can (ALWAYS_POSSIBLE)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMAS.get(status, 'Problem')}"}}
            },
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in sorted({*statuses, *ALWAYS_POSSIBLE})
    }


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        errors.append({"loc": loc, "msg": error.get("msg", "Invalid value"), "type": error.get("type", "value_error")})
    return errors


async def _validation_handler(_request: Request, exc: RequestValidationError) -> ProblemResponse:
    errors = _field_errors(exc)
    names = sorted({".".join(str(part) for part in error["loc"]) for error in errors})
    if any(error["type"] == "json_invalid" for error in errors):
        detail = "The request body is not valid JSON."
    else:
        detail = f"Invalid request: {', '.join(names)}." if names else "Invalid request."
    return problem(422, detail, title="Validation failed", errors=errors)


def _allowed_methods(request: Request) -> str:
    """Every method of every route whose path matches: Starlette's own 405 names only the first route's."""
    path = request.scope["path"]
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        regex, route_methods = getattr(route, "path_regex", None), route.methods
        if regex is not None and route_methods and regex.match(path):
            methods |= route_methods
    return ", ".join(sorted(methods))


async def _http_handler(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = "The request body could not be read: send UTF-8 JSON."
    return problem(exc.status_code, detail, headers=headers or None)


async def _app_error_handler(_request: Request, exc: AppError) -> ProblemResponse:
    return problem(exc.status, exc.detail, title=exc.title, type_=exc.type, headers=exc.headers, **exc.extra)


def unexpected_error(scope: Scope, exc: Exception) -> ProblemResponse:
    """The answer to an exception no handler took, saying nothing of the cause: 503 when the database cannot be
    reached (logged as a warning), else a 500 (logged with its traceback). Both logs name the request id."""
    request_id = scope.get("state", {}).get("request_id", "-")
    method, path = scope.get("method", "-"), scope.get("path", "-")
    if is_unreachable(exc):
        logger.warning("The database is not answering on %s %s (request %s): %s", method, path, request_id, exc)
        return problem(503, UNAVAILABLE_DETAIL, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    logger.error("Unhandled error on %s %s (request %s)", method, path, request_id, exc_info=exc)
    return problem(500, "The server could not complete the request.")


def _may_retry(scope: Scope, exc: Exception) -> bool:
    """A read whose connection was lost is tried once more: a GET or HEAD whose unit of work wrote nothing (the
    session dependency says so in the request's state), when the connection dropped at once rather than giving no
    answer in time (`is_lost_connection()`: a timeout is not retried, it would only double the wait). A write is
    never tried again here: it may have been committed before the connection dropped; the client decides, and an
    Idempotency-Key makes its retry safe."""
    return (
        scope.get("method") in RETRIED_METHODS
        and not scope.get("state", {}).get(WROTE_STATE, False)
        and is_lost_connection(exc)
    )


class UnexpectedErrorMiddleware:
    """Renders an exception no handler took as `unexpected_error()` does, after trying a read once more when it
    lost its connection (`_may_retry()`; the pool has dropped that connection, so the retry runs on a fresh one).

    Starlette runs the app's own `Exception` handler in its outermost middleware, so that answer would bypass CORS
    (a page could not read it) and the request id. This middleware goes inside both (see main.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        for attempt in (1, 2):
            try:
                await self.app(scope, receive if attempt == 1 else _empty_body(receive), send_tracking_start)
            except Exception as exc:
                if started:  # too late for another answer: let the server end the response
                    raise
                if attempt == 1 and _may_retry(scope, exc):
                    logger.warning(
                        "Lost the database connection on %s %s (request %s); trying once more: %s",
                        scope.get("method"),
                        scope.get("path"),
                        scope.get("state", {}).get("request_id", "-"),
                        exc,
                    )
                    continue
                await unexpected_error(scope, exc)(scope, receive, send)
            return


def _empty_body(receive: Receive) -> Receive:
    """The receive channel of a GET or HEAD run again: its (empty) body once more, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return replay


async def _unhandled_handler(request: Request, exc: Exception) -> ProblemResponse:
    """For an exception from the outer middleware itself, which UnexpectedErrorMiddleware cannot see."""
    return unexpected_error(request.scope, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
