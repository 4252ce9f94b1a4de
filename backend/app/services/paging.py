"""The one way a list is read: the rows of one page and the number of rows that match."""

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from app.database import Base
from app.schemas import PageParams

ModelT = TypeVar("ModelT", bound=Base)


async def fetch_page(
    session: AsyncSession,
    model: type[ModelT],
    conditions: Sequence[ColumnElement[bool]],
    ordering: Sequence[ColumnElement],
    params: PageParams,
    *,
    options: Sequence[ORMOption] = (),
) -> tuple[Sequence[ModelT], int]:
    """Rows of `model` matching every condition, in `ordering`, for the requested page; and their total.
    `options` say how related rows load (they never load implicitly)."""
    total = await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    page = (
        select(model)
        .where(*conditions)
        .order_by(*ordering)
        .limit(params.limit)
        .offset((params.page - 1) * params.limit)
        .options(*options)
    )
    items = (await session.scalars(page)).unique().all()
    return items, total
