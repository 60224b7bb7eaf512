"""The base of the in-memory repositories: every write journaled, so a rollback can undo it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

if TYPE_CHECKING:
    from tesserra_adapters.memory.unit_of_work import MemoryStore

Undo = Callable[[], None]


class _Owned(Protocol):
    @property
    def tenant_id(self) -> str: ...


class _Versioned(_Owned, Protocol):
    @property
    def id(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...


R = TypeVar("R", bound=_Owned)


class _Repo:
    def __init__(self, store: MemoryStore, journal: list[Undo]) -> None:
        self._store = store
        self._journal = journal

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        missing = object()
        old = table.get(key, missing)
        table[key] = value

        def undo() -> None:
            if old is missing:
                table.pop(key, None)
            else:
                table[key] = old

        self._journal.append(undo)

    def _drop(self, table: dict[Any, Any], key: Any) -> None:
        old = table.pop(key)

        def undo() -> None:
            table[key] = old

        self._journal.append(undo)

    def _owned(self, table: dict[str, R], tenant_id: str, key: str) -> R | None:
        """The row, if it is the tenant's: another tenant's is as missing as one that is not there."""
        row = table.get(key)
        return row if row is not None and row.tenant_id == tenant_id else None

    def _is_current(self, table: dict[str, Any], row: _Versioned, if_updated_at: datetime | None = None) -> bool:
        """Whether the tenant's row of ``row.id`` is there to be replaced; with ``if_updated_at``, only if it is
        still as it was then (compare-and-set: of two racing writers, one wins)."""
        stored = self._owned(table, row.tenant_id, row.id)
        return stored is not None and (if_updated_at is None or stored.updated_at == if_updated_at)

    def _pop_owned(self, table: dict[str, Any], tenant_id: str, key: str) -> bool:
        """Drop the row if it is the tenant's; whether it was there."""
        return self._owned(table, tenant_id, key) is not None and self._pop(table, key)

    def _stamp(self, table: dict[Any, Any], key: Any, field: str, at: datetime) -> bool:
        """Set the row's ``field`` to ``at``, unless it is set already: whether this call set it."""
        row = table.get(key)
        if row is None or getattr(row, field) is not None:
            return False
        self._put(table, key, msgspec.structs.replace(row, **{field: at}))
        return True

    def _pop(self, table: dict[Any, Any], key: Any) -> bool:
        """Drop the row if it is there; whether it was."""
        if key not in table:
            return False
        self._drop(table, key)
        return True
