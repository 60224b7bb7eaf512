"""Pagination, as the API states it: ``limite`` (1-500, default 50) and ``offset``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import msgspec

from tesserra_core.errors import ValidationFailed

T = TypeVar("T")
E = TypeVar("E")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_OFFSET = 2**63 - 1
"""The largest offset a database takes (a signed 64-bit integer, in SQLite and PostgreSQL alike)."""


class PageRequest(msgspec.Struct, frozen=True):
    limite: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limite <= MAX_LIMIT:
            raise ValidationFailed(f"limite must be between 1 and {MAX_LIMIT}", code="invalid_pagination")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise ValidationFailed(f"offset must be between 0 and {MAX_OFFSET}", code="invalid_pagination")

    def window(self, everything: list[E]) -> tuple[list[E], int]:
        """This page of ``everything`` (in its order), and how many there are in all."""
        return everything[self.offset : self.offset + self.limite], len(everything)

    def answer(self, found: tuple[Iterable[E], int], show: Callable[[E], T]) -> Page[T]:
        """The page of what was ``found`` (this page's items and the total), each as ``show`` shows it."""
        items, total = found
        return Page([show(item) for item in items], total, self.limite, self.offset)


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    total: int
    limite: int
    offset: int
