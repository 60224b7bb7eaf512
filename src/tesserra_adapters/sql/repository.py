"""The base of every SQL repository: a connection, and the few statements they all use."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import msgspec.inspect
from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict

S = TypeVar("S", bound=msgspec.Struct)


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

    async def _owned(self, table: Any, tenant_id: str, row_id: str) -> Row[Any] | None:
        """The row of that id, if it is the tenant's: another tenant's is as missing as one that is not there."""
        return await self._one(select(table).where(table.c.id == row_id, table.c.tenant_id == tenant_id))

    async def _delete_owned(self, table: Any, tenant_id: str, row_id: str) -> bool:
        """Delete the row of that id if it is the tenant's; whether there was one."""
        result = await self._conn.execute(delete(table).where(table.c.id == row_id, table.c.tenant_id == tenant_id))
        return bool(result.rowcount)

    async def _stamp(self, table: Any, column: str, at: datetime, *where: Any) -> bool:
        """Set ``column`` to ``at`` on the row ``where`` finds, unless it is set already: whether
        this call set it (of two racing, one wins)."""
        result = await self._conn.execute(update(table).where(*where, table.c[column].is_(None)).values({column: at}))
        return bool(result.rowcount)

    async def _page(self, table: Any, where: Any, order: Any, page: PageRequest) -> tuple[list[Any], int]:
        rows = await self._all(select(table).where(where).order_by(order).limit(page.limite).offset(page.offset))
        if page.offset == 0 and len(rows) < page.limite:
            return rows, len(rows)
        total = (await self._conn.execute(select(func.count()).select_from(table).where(where))).scalar_one()
        return rows, int(total)


def count_of(table: Any, *where: Any) -> Any:
    """``SELECT count(*)`` of the table's rows that match ``where``."""
    return select(func.count()).select_from(table).where(*where)


def from_row(kind: type[S], row: Row[Any], **overrides: Any) -> S:
    """The ``kind`` Struct read from the row's columns of the same names, enums and all.

    ``overrides`` give the fields whose column holds another shape (JSON text, a space-separated
    list). Converting a dict keyed by the field names is faster than the field-by-field copy it
    replaces and than ``from_attributes`` on the row (1,000 domain rows: 2.1 ms against 3.3 and 3.3).
    """
    columns = row._mapping
    values = {name: columns[name] for name in kind.__struct_fields__ if name not in overrides}
    values.update(overrides)
    return msgspec.convert(values, kind)


def to_values(obj: msgspec.Struct, *, omit: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    """The Struct's fields as column values (enums as their plain values), but ``omit``; ``overrides`` on top.

    ``msgspec.structs.asdict`` plus the enum fields looked up once per type: 0.6 µs a domain
    against 0.35 for the dict literal it replaces, on writes of one row at a time.
    """
    values = msgspec.structs.asdict(obj)
    for name in _enum_fields(type(obj)):
        value = values[name]
        if value is not None:
            values[name] = value.value
    for name in omit:
        del values[name]
    values.update(overrides)
    return values


@functools.cache
def _enum_fields(kind: type[msgspec.Struct]) -> tuple[str, ...]:
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.name for f in info.fields if _is_enum(f.type))


def _is_enum(t: msgspec.inspect.Type) -> bool:
    if isinstance(t, msgspec.inspect.UnionType):
        return any(_is_enum(u) for u in t.types)
    return isinstance(t, msgspec.inspect.EnumType)
