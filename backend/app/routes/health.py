"""Liveness that means something: 200 only when the database answers."""

import logging

from fastapi import APIRouter, Request
from sqlalchemy import literal, select
from sqlalchemy.exc import SQLAlchemyError

from app.deps import Public
from app.errors import AppError, responses
from app.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])
logger = logging.getLogger("app.health")


@router.get("/health", response_model=Health, dependencies=[Public], responses=responses(503))
def health(request: Request) -> Health:
    try:
        with request.app.state.session_factory() as session:
            session.execute(select(literal(1)))
    except SQLAlchemyError as exc:
        logger.warning("Health check failed: %s", exc.__class__.__name__)
        raise AppError(503, "The database is not answering.") from exc
    return Health(status="ok", database="ok")
