"""A use case's input built from a driver's arguments by msgspec, so that the bounds its type
declares (lengths, ranges, patterns) run whichever driver called: REST decodes the body into the
Struct, the MCP tools convert their arguments into the same Struct here. A refusal reads as
REST's: 400 ``validation_failed``, "invalid request: <field>: <what was expected>"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from tesserra_core.domain.text import LINE_PATTERN, NAME_PATTERN, TEXT_PATTERN
from tesserra_core.errors import ValidationFailed

_PATTERNS = {
    f"Expected `str` matching regex {pattern!r}": text
    for pattern, text in (
        (LINE_PATTERN, "Expected one line of text, without control characters"),
        (TEXT_PATTERN, "Expected text without control characters (tab and line breaks allowed)"),
        (NAME_PATTERN, "Expected a name: one line without control characters, not only white space"),
    )
}
_ANY_PATTERN = re.compile(r"^Expected `str` matching regex .*$", re.DOTALL)

T = TypeVar("T")


def readable(message: str) -> str:
    """msgspec's refusal of a pattern in words (the pattern itself is in /openapi.json, and may be long)."""
    if message in _PATTERNS:
        return _PATTERNS[message]
    if _ANY_PATTERN.match(message):
        return "Expected `str` of the form its pattern in /openapi.json states"
    return message


def where(exc: msgspec.ValidationError) -> tuple[str | None, str]:
    """msgspec's refusal split into the field it names ("" for the root, None when it names none) and
    what was expected: "Expected `int`, got `str` - at `$.port`" is ("port", "Expected `int`, got `str`")."""
    message, _, path = str(exc).rpartition(" - at `")
    if not message:
        return None, str(exc)
    return path.removesuffix("`").removeprefix("$").removeprefix("."), message


def convert(cls: type[T], fields: Mapping[str, Any]) -> T:
    """``cls`` from ``fields`` (by the names the API gives them), checked against every bound of its type."""
    try:
        return msgspec.convert(fields, cls)
    except msgspec.ValidationError as exc:
        field, message = where(exc)
        if field is None:  # no path: the input as a whole
            raise ValidationFailed(f"invalid request: {readable(message)}") from None
        raise ValidationFailed(f"invalid request: {field or 'body'}: {readable(message)}") from None
