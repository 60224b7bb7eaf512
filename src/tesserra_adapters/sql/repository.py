"""The base of every SQL repository: a connection, and the few statements they all use."""

from __future__ import annotations

import functools
from collections.abc import Callable
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
T = TypeVar("T")


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

    async def _count(self, table: Any, *where: Any) -> int:
        return int((await self._conn.execute(count_of(table, *where))).scalar_one())

    async def _read_by(self, table: Any, read: Callable[[Row[Any]], T], **keys: Any) -> T | None:
        """The row whose columns hold ``keys``, read into its domain type; None where there is none."""
        row = await self._one(select(table).where(*_matching(table, keys)))
        return read(row) if row else None

    async def _read_owned(self, table: Any, read: Callable[[Row[Any]], T], tenant_id: str, row_id: str) -> T | None:
        """The row of that id, if it is the tenant's: another tenant's is as missing as one that is not there."""
        return await self._read_by(table, read, id=row_id, tenant_id=tenant_id)

    async def _update_owned(
        self, table: Any, tenant_id: str, row_id: str, values: dict[str, Any], *, if_updated_at: datetime | None = None
    ) -> bool:
        """Write ``values`` on the tenant's row of that id; whether there was one. With ``if_updated_at``,
        only if the row is still as it was then (compare-and-set: of two racing writers, one wins)."""
        stmt = update(table).where(*_matching(table, {"id": row_id, "tenant_id": tenant_id}))
        if if_updated_at is not None:
            stmt = stmt.where(table.c.updated_at == if_updated_at)
        return bool((await self._conn.execute(stmt.values(values))).rowcount)

    async def _delete_by(self, table: Any, **keys: Any) -> bool:
        """Delete the rows whose columns hold ``keys``; whether there was one."""
        return bool((await self._conn.execute(delete(table).where(*_matching(table, keys)))).rowcount)

    async def _delete_owned(self, table: Any, tenant_id: str, row_id: str) -> bool:
        """Delete the row of that id if it is the tenant's; whether there was one."""
        return await self._delete_by(table, id=row_id, tenant_id=tenant_id)

    async def _stamp(self, table: Any, column: str, at: datetime, *where: Any) -> bool:
        """Set ``column`` to ``at`` on the row ``where`` finds, unless it is set already: whether
        this call set it (of two racing, one wins)."""
        result = await self._conn.execute(update(table).where(*where, table.c[column].is_(None)).values({column: at}))
        return bool(result.rowcount)

    async def _page(
        self, table: Any, read: Callable[[Row[Any]], T], page: PageRequest, where: Any, *order: Any
    ) -> tuple[list[T], int]:
        """One page of the rows ``where`` finds, in ``order``, read into their domain type; and how many
        there are in all (not counted where the first page holds them all)."""
        rows = await self._all(select(table).where(where).order_by(*order).limit(page.limit).offset(page.offset))
        total = len(rows) if page.offset == 0 and len(rows) < page.limit else await self._count(table, where)
        return [read(r) for r in rows], total


def _matching(table: Any, keys: dict[str, Any]) -> list[Any]:
    return [table.c[name] == value for name, value in keys.items()]


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
