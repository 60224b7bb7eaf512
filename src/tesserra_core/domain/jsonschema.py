"""A small validator for the subset of JSON Schema the catalog uses (no dependency, no framework).

Supported keywords: ``type`` (object, array, string, integer, number, boolean, null, or a list of
them), ``properties``, ``required``, ``additionalProperties`` (a boolean or a schema),
``maxProperties``, ``items``, ``minItems``, ``maxItems``, ``enum``, ``minimum``, ``maximum``,
``minLength``, ``maxLength``, ``pattern``. ``default``, ``description`` and ``title`` are annotations.
Any other keyword is refused when a schema is checked (``check_schema``), so the catalog can never
rely on a rule that is silently ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from tesserra_core.errors import Unprocessable

SUPPORTED = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "maxProperties",
        "items",
        "minItems",
        "maxItems",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "default",
        "description",
        "title",
    }
)


class SchemaError(ValueError):
    """The schema itself is malformed or uses an unsupported keyword (a bug in the catalog)."""


def check_schema(schema: dict[str, Any], path: str = "$") -> None:
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise SchemaError(f"{path}: unsupported keywords {sorted(unknown)}")
    for name, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{path}.{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        check_schema(extra, f"{path}.*")
    if "items" in schema:
        check_schema(schema["items"], f"{path}[]")
    if "pattern" in schema:
        re.compile(schema["pattern"])


@lru_cache(maxsize=256)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "null":
        return value is None
    raise SchemaError(f"unknown type {expected!r}")


def _fail(path: str, message: str) -> Unprocessable:
    return Unprocessable(f"{path}: {message}", code="invalid_config")


def validate(value: Any, schema: dict[str, Any], path: str = "config") -> None:
    """Raise ``ValidationFailed`` (code ``invalid_config``) naming the first offending field, e.g.
    ``config.port: must be <= 65535``."""
    expected = schema.get("type")
    if expected is not None:
        kinds = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, k) for k in kinds):
            raise _fail(path, f"must be of type {' or '.join(kinds)}")
    if "enum" in schema and value not in schema["enum"]:
        raise _fail(path, f"must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, dict):
        _object(value, schema, path)
    elif isinstance(value, list):
        _array(value, schema, path)
    elif isinstance(value, str):
        _string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(path, f"must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(path, f"must be <= {schema['maximum']}")


def _object(value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            raise _fail(f"{path}.{name}", "is required")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        raise _fail(path, f"must have at most {schema['maxProperties']} entries")
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if not isinstance(name, str):
            raise _fail(path, "keys must be strings")
        where = f"{path}.{name}"
        if name in properties:
            validate(item, properties[name], where)
        elif extra is False:
            raise _fail(where, "is not a known field")
        elif isinstance(extra, dict):
            validate(item, extra, where)


def _array(value: list[Any], schema: dict[str, Any], path: str) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise _fail(path, f"must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise _fail(path, f"must have at most {schema['maxItems']} items")
    if "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]")


def _string(value: str, schema: dict[str, Any], path: str) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise _fail(path, f"must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _fail(path, f"must be at most {schema['maxLength']} characters")
    if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        raise _fail(path, f"must match {schema['pattern']}")
