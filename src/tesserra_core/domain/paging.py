"""Pagination, as the API states it: ``limite`` (1-500, default 50) and ``offset``."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from tesserra_core.errors import ValidationFailed

T = TypeVar("T")

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


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    total: int
    limite: int
    offset: int
