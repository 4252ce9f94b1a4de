"""FastAPI application entry point: `uvicorn app.main:app` (run from backend/)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import bootstrap
from app.config import Settings, get_settings
from app.database import create_async_db_engine, create_session_factory
from app.docs import install_docs
from app.errors import UnexpectedErrorMiddleware, install_error_handlers
from app.json_bodies import Utf8JsonBodyMiddleware
from app.live import LiveHub
from app.request_id import RequestIdMiddleware
from app.request_limits import RequestLimitsMiddleware
from app.routes import audit, auth, export, health, incidents, live, metrics, people, users
from app.schemas import PreconditionFailedProblem, Problem
from app.security_headers import SecurityHeadersMiddleware
from app.services import idempotency, outbox


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_async_db_engine(settings.database_url, echo=settings.sql_echo, timeouts=settings.database_timeouts)

    hub = LiveHub(engine, settings)
    # Every commit that carries a live event rings the live feed's doorbell (services/outbox.py).
    session_factory = create_session_factory(engine, info={outbox.DOORBELL: hub.ring})
    pending_releases = idempotency.PendingReleases(session_factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await bootstrap.start_up(session_factory, settings)
            await hub.start()
            yield
        finally:  # also when start-up refuses: its connections belong to this event loop
            await hub.stop()
            await pending_releases.stop()
            await engine.dispose()

    app = FastAPI(
        title="Incident Tracker API",
        version="1.0.0",
        description="Record, triage and follow production incidents. Errors are RFC 9457 problem details.",
        lifespan=lifespan,
        # The docs are served from the app's own files (app/docs.py), not FastAPI's pages, which load them from a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.live = hub
    app.state.pending_releases = pending_releases

    # The last added is the outermost: security headers, request id, then CORS, then the answer to unexpected errors,
    # so that a 500 or 503 carries the request id, the CORS and the security headers like any other answer; then the
    # size limits, before anything reads the body (FastAPI reads it before the route's dependencies check the token);
    # innermost, the check that a JSON body is UTF-8.
    app.add_middleware(Utf8JsonBodyMiddleware)
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "If-Match", "If-None-Match", "Idempotency-Key"],
        expose_headers=["Location", "X-Request-ID", "Retry-After", "ETag"],
    )
    app.add_middleware(RequestIdMiddleware)
    # Outermost, so that every answer has them, whichever middleware gave it.
    app.add_middleware(SecurityHeadersMiddleware, behind_tls=settings.behind_tls)
    install_error_handlers(app)
    # export before incidents: `/api/incidents/export` must not be taken for `/api/incidents/{incident_id}`.
    for module in (health, auth, export, incidents, users, people, audit, metrics, live):
        app.include_router(module.router)
    install_docs(app)
    _register_problem_schema(app)
    return app


def _register_problem_schema(app: FastAPI) -> None:
    """Put the Problem schemas into components so every declared error response can point at them."""
    build_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (Problem, PreconditionFailedProblem):
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in model_schema.pop("$defs").items():
                    components.setdefault(name, definition)  # the routes' own (IncidentRead, ...) stay as they are
                components[model.__name__] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


logging.basicConfig(level=logging.INFO)
app = create_app()
