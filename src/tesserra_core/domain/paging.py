"""Pagination, as the API states it: ``limite`` (1-500, default 50) and ``offset``."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from tesserra_core.errors import ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class PageRequest(msgspec.Struct, frozen=True):
    limite: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limite <= MAX_LIMIT:
            raise ValidationFailed(f"limite must be between 1 and {MAX_LIMIT}", code="invalid_pagination")
        if self.offset < 0:
            raise ValidationFailed("offset must be 0 or more", code="invalid_pagination")


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    total: int
    limite: int
    offset: int
