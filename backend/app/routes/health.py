"""Liveness that means something: 200 only when the database answers."""

from fastapi import APIRouter, Request
from sqlalchemy import literal, select

from app.deps import Public
from app.errors import responses
from app.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health, dependencies=[Public], responses=responses(503))
async def health(request: Request) -> Health:
    """200 when the database answers; 503 (with `Retry-After`) when it cannot be reached."""
    # No try/except: a database that cannot be reached is a 503 on every route, decided in one place (app.errors).
    async with request.app.state.session_factory() as session:
        await session.execute(select(literal(1)))
    return Health(status="ok", database="ok")
