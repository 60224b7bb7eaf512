"""Text a caller hands in: which characters it may hold, stated once for every driver and backend.

A NUL was stored by SQLite and refused by PostgreSQL; an escape sequence in a name reached every
terminal that printed it. So the core refuses, in every text input, before any storage sees it:

- ``Line`` (names, slugs, addresses, codes, JSON keys): no control character at all (C0, DEL);
- ``Text`` (descriptions, values that may span lines): C0 and DEL except tab, line feed and
  carriage return;
- anywhere: lone surrogates (not encodable as UTF-8).

Each named type carries its rule as a ``pattern`` so /openapi.json states it (a field with any
pattern but ``Text``'s is one line), and input Structs derive from ``Input``, whose
``__post_init__`` checks every string (nested ones and JSON keys too) whether the Struct was
decoded by a driver or built by a library user: 400 ``validation_failed`` naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from tesserra_core.errors import ValidationFailed

LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""One line of text: no C0 control character, no DEL."""
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Text that may span lines: tab, line feed and carriage return allowed, no other control character."""

_LINE_BAD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
"""A name: one line with at least one character that is not white space."""

LINE = msgspec.Meta(pattern=LINE_PATTERN)
TEXT = msgspec.Meta(pattern=TEXT_PATTERN)

Line = Annotated[str, LINE]
Text = Annotated[str, TEXT]


def name_meta(max_length: int) -> msgspec.Meta:
    """A name of 1 to ``max_length`` characters (surrounding white space is dropped when stored)."""
    return msgspec.Meta(min_length=1, max_length=max_length, pattern=NAME_PATTERN)


def check_name(field: str, value: str, max_length: int) -> str:
    """``value`` stripped, if it is a ``name_meta(max_length)``; otherwise 400 ``invalid_name``."""
    check_line(field, value)
    name = value.strip()
    if not name or len(value) > max_length:
        raise ValidationFailed(f"{field} must be 1-{max_length} characters, not only white space", code="invalid_name")
    return name


MAX_DESCRIPTION = 2000
"""The longest description a caller may give anything (a project, a plan)."""


def check_description(value: str) -> str:
    """``value`` if it is at most ``MAX_DESCRIPTION`` characters; otherwise 400 ``invalid_description``."""
    if len(value) > MAX_DESCRIPTION:
        raise ValidationFailed(f"description must be at most {MAX_DESCRIPTION} characters", code="invalid_description")
    return value


def check_line(field: str, value: str) -> str:
    """``value`` if it is one line of text; otherwise 400 ``validation_failed`` naming ``field``."""
    if _LINE_BAD.search(value):
        raise _refused(field, "a control character (line breaks included) or an unpaired surrogate")
    return value


def check_text(field: str, value: str) -> str:
    """``value`` if it holds no control character but tab and line breaks; otherwise 400 naming ``field``."""
    if _TEXT_BAD.search(value):
        raise _refused(field, "a control character or an unpaired surrogate")
    return value


def check_json_text(field: str, value: object) -> None:
    """Every string in JSON data: keys are ``Line``, string values ``Text``. Walks without recursion."""
    stack: list[tuple[str, object]] = [(field, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            check_text(path, node)
        elif isinstance(node, dict):
            for key, member in node.items():
                if isinstance(key, str):
                    check_line(f"{path} (a key)", key)
                stack.append((f"{path}.{key}", member))
        elif isinstance(node, list | tuple):
            stack.extend((f"{path}[{index}]", member) for index, member in enumerate(node))
        elif isinstance(node, msgspec.Struct) and not isinstance(node, Input):  # an Input checked itself
            stack.extend((f"{path}.{name}", getattr(node, name)) for name in node.__struct_fields__)


def _refused(field: str, what: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: must not contain {what}", code="validation_failed")


class Input(msgspec.Struct, frozen=True):
    """The base of every use-case input: its strings obey ``Line``/``Text`` however it was made."""

    def __post_init__(self) -> None:
        cls = type(self)
        plan = _PLANS.get(cls)
        if plan is None:
            plan = _PLANS[cls] = _plan(cls)
        for attr, name, line in plan:
            value = getattr(self, attr)
            if isinstance(value, str):
                (check_line if line else check_text)(name, value)
            elif isinstance(value, list | tuple) and line:
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        check_line(f"{name}[{index}]", item)
                    else:
                        check_json_text(f"{name}[{index}]", item)
            elif value is not None and not isinstance(value, int | float | bool):
                check_json_text(name, value)


_PLANS: dict[type, tuple[tuple[str, str, bool], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, name in the API, one line?) of each field: one line where its type says ``Line``."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple((f.name, f.encode_name, _says_line(f.type)) for f in info.fields)


def _says_line(t: Any) -> bool:
    if isinstance(t, msgspec.inspect.StrType):
        return t.pattern is not None and t.pattern != TEXT_PATTERN  # every other pattern is one line
    if isinstance(t, msgspec.inspect.UnionType):
        return any(_says_line(member) for member in t.types)
    if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType):
        return _says_line(t.item_type)
    if isinstance(t, msgspec.inspect.Metadata):
        return _says_line(t.type)
    return False
