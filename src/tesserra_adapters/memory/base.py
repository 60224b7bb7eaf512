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
