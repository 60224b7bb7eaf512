"""Bounds on JSON a caller hands us to forward elsewhere (a tool call's arguments).

A JSON parser on the other side may recurse once per level, copy every item and hold every byte:
arguments nested a few hundred levels deep crashed or stalled tool servers, and failed our own
encoder. ``check_json`` refuses them before anything is sent, walking the value without recursion
and stopping at the first bound it passes, so a hostile value costs no more than the bounds allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from tesserra_core.errors import ValidationFailed

_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class JsonBounds:
    max_depth: int = 32
    """Containers (objects, arrays) nested in one another, the outermost counting as 1."""
    max_items: int = 10_000
    """Members of all objects and elements of all arrays, together."""
    max_bytes: int = 256 * 1024
    """The compact JSON encoding (UTF-8), so also the longest string."""


TOOL_ARGUMENTS = JsonBounds()


def check_json(value: object, bounds: JsonBounds = TOOL_ARGUMENTS, *, name: str = "arguments") -> None:
    """Raise ``ValidationFailed`` unless ``value`` is plain JSON data (dicts with string keys,
    lists, strings, numbers, booleans, None) within ``bounds``.

    Codes: ``arguments_too_deep``, ``arguments_too_large`` (items or bytes), ``invalid_arguments``.
    """
    items = 0
    chars = 0  # a lower bound of the encoded size, to stop early on a huge value
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > bounds.max_depth:
                raise ValidationFailed(
                    f"{name} are nested deeper than {bounds.max_depth} levels", code=f"{name}_too_deep"
                )
            items += len(node)
            if items > bounds.max_items:
                raise ValidationFailed(
                    f"{name} hold more than {bounds.max_items} items in all", code=f"{name}_too_large"
                )
            if isinstance(node, dict):
                for key, member in node.items():
                    if not isinstance(key, str):
                        raise ValidationFailed(f"{name} must have string keys", code=f"invalid_{name}")
                    chars += len(key)
                    stack.append((member, depth + 1))
            else:
                stack.extend((member, depth + 1) for member in node)
        elif isinstance(node, str):
            chars += len(node)
        elif not isinstance(node, _SCALARS):
            raise ValidationFailed(f"{name} must be JSON data", code=f"invalid_{name}")
        if chars > bounds.max_bytes:
            raise _too_many_bytes(name, bounds)
    try:
        encoded = msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        raise ValidationFailed(f"{name} must be JSON data", code=f"invalid_{name}") from None
    if len(encoded) > bounds.max_bytes:
        raise _too_many_bytes(name, bounds)


def _too_many_bytes(name: str, bounds: JsonBounds) -> ValidationFailed:
    return ValidationFailed(f"{name} are larger than {bounds.max_bytes} bytes as JSON", code=f"{name}_too_large")
