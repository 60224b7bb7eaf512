"""Building one Struct out of another that holds the same fields under the same names."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


def by_name(kind: type[S], source: object, /, **stated: Any) -> S:
    """A ``kind`` whose fields are the ``stated`` values, and ``source``'s attributes of the same
    names for every field not stated."""
    return kind(**{name: stated[name] if name in stated else getattr(source, name) for name in kind.__struct_fields__})
