"""The original design taken literally, for `make bench` to compare against: a small FastAPI app as the project's
first README described it. Sync `def` routes, the SQLAlchemy ORM with a session per request, an exact COUNT(*)
for every page, OFFSET paging, `LIKE '%term%'` on title or service, sorting by a whitelisted column. It reads the
same database and tables as the API (DATABASE_URL), writes nothing and asks for no token.

Run from anywhere: `DATABASE_URL=... uvicorn naive_app:app --app-dir bench`.
"""

import math
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Integer, String, Text, create_engine, or_
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATABASE_URL = os.environ["DATABASE_URL"]
# The design's engine: the driver's defaults (a pool of 5 plus 10 overflow per process).
connect_args = {"check_same_thread": False} if DATABASE_URL.startswith("sqlite") else {}
engine = create_engine(DATABASE_URL, connect_args=connect_args)
SessionLocal = sessionmaker(bind=engine, autocommit=False, autoflush=False)


class Base(DeclarativeBase):
    pass


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(9))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    service: str
    severity: str
    status: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    page: int
    limit: int
    pages: int


SORT_COLUMNS = {
    "id": Incident.id,
    "title": Incident.title,
    "service": Incident.service,
    "severity": Incident.severity,
    "status": Incident.status,
    "created_at": Incident.created_at,
    "updated_at": Incident.updated_at,
}


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


app = FastAPI(title="Incident Tracker, the original design")


@app.get("/api/incidents/", response_model=IncidentPage)
def list_incidents(
    db: Annotated[Session, Depends(get_db)],
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    search: str | None = None,
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] | None = None,
    status: Literal["OPEN", "MITIGATED", "RESOLVED"] | None = None,
    sort_by: Literal["id", "title", "service", "severity", "status", "created_at", "updated_at"] = "created_at",
    sort_order: Literal["asc", "desc"] = "desc",
) -> IncidentPage:
    query = db.query(Incident)
    if search:
        query = query.filter(or_(Incident.title.like(f"%{search}%"), Incident.service.like(f"%{search}%")))
    if severity:
        query = query.filter(Incident.severity == severity)
    if status:
        query = query.filter(Incident.status == status)
    total = query.count()
    column = SORT_COLUMNS[sort_by]
    query = query.order_by(column.asc() if sort_order == "asc" else column.desc())
    items = query.offset((page - 1) * limit).limit(limit).all()
    return IncidentPage(
        items=[IncidentOut.model_validate(item) for item in items],
        total=total,
        page=page,
        limit=limit,
        pages=math.ceil(total / limit),
    )


@app.get("/api/incidents/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: int, db: Annotated[Session, Depends(get_db)]) -> IncidentOut:
    incident = db.query(Incident).filter(Incident.id == incident_id).first()
    if incident is None:
        raise HTTPException(status_code=404, detail="Incident not found")
    return IncidentOut.model_validate(incident)
