"""The base of every SQL repository: a connection, and the few statements they all use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class Repo:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _one(self, stmt: Any, params: dict[str, Any] | None = None) -> Row[Any] | None:
        return (await self._conn.execute(stmt, params)).first()

    async def _all(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Row[Any]]:
        return list((await self._conn.execute(stmt, params)).all())

    async def _insert(self, table: Any, values: dict[str, Any], conflict: Conflict) -> None:
        try:
            await self._conn.execute(insert(table).values(values))
        except IntegrityError:
            raise conflict from None

    async def _page(self, table: Any, where: Any, order: Any, page: PageRequest) -> tuple[list[Any], int]:
        rows = await self._all(select(table).where(where).order_by(order).limit(page.limite).offset(page.offset))
        if page.offset == 0 and len(rows) < page.limite:
            return rows, len(rows)
        total = (await self._conn.execute(select(func.count()).select_from(table).where(where))).scalar_one()
        return rows, int(total)


def count_of(table: Any, *where: Any) -> Any:
    """``SELECT count(*)`` of the table's rows that match ``where``."""
    return select(func.count()).select_from(table).where(*where)
