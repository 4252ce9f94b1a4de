"""The one way a list is read: the rows of one page and the number of rows that match."""

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.database import Base
from app.schemas import PageParams

ModelT = TypeVar("ModelT", bound=Base)


def fetch_page(
    session: Session,
    model: type[ModelT],
    conditions: Sequence[ColumnElement[bool]],
    ordering: Sequence[ColumnElement],
    params: PageParams,
) -> tuple[Sequence[ModelT], int]:
    """Rows of `model` matching every condition, in `ordering`, for the requested page; and their total."""
    total = session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    items = session.scalars(
        select(model)
        .where(*conditions)
        .order_by(*ordering)
        .limit(params.limit)
        .offset((params.page - 1) * params.limit)
    ).all()
    return items, total
