"""The core's JSON Schema subset: every keyword accepts what it should, refuses what it should, and
names the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from tesserra_core.domain.jsonschema import SchemaError, check_schema, validate
from tesserra_core.errors import Unprocessable

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["image", "port"],
    "properties": {
        "image": {"type": "string", "minLength": 1, "maxLength": 10},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "cpus": {"type": "number", "minimum": 0.1},
        "public": {"type": "boolean"},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "path": {"type": "string", "pattern": "^/"},
        "command": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "env": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
        "maybe": {"type": ["string", "null"]},
    },
}


def _refused(value: Any) -> str:
    with pytest.raises(Unprocessable) as caught:
        validate(value, SCHEMA)
    assert caught.value.code == "invalid_config"
    return caught.value.message


def test_a_valid_config_passes() -> None:
    validate(
        {
            "image": "busybox",
            "port": 80,
            "cpus": 1,
            "public": True,
            "mode": "a",
            "path": "/x",
            "command": ["httpd"],
            "env": {"A": "1"},
            "maybe": None,
        },
        SCHEMA,
    )


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ({"port": 80}, "config.image", "is required"),
        ({"image": "b", "port": "80"}, "config.port", "integer"),
        ({"image": "b", "port": 80.5}, "config.port", "integer"),
        ({"image": "b", "port": True}, "config.port", "integer"),
        ({"image": "b", "port": 0}, "config.port", ">= 1"),
        ({"image": "b", "port": 65536}, "config.port", "<= 65535"),
        ({"image": "", "port": 1}, "config.image", "at least 1"),
        ({"image": "x" * 11, "port": 1}, "config.image", "at most 10"),
        ({"image": "b", "port": 1, "cpus": 0.01}, "config.cpus", ">= 0.1"),
        ({"image": "b", "port": 1, "cpus": "1"}, "config.cpus", "number"),
        ({"image": "b", "port": 1, "public": 1}, "config.public", "boolean"),
        ({"image": "b", "port": 1, "mode": "c"}, "config.mode", "one of a, b"),
        ({"image": "b", "port": 1, "path": "x"}, "config.path", "must match"),
        ({"image": "b", "port": 1, "command": []}, "config.command", "at least 1"),
        ({"image": "b", "port": 1, "command": ["a", "b", "c"]}, "config.command", "at most 2"),
        ({"image": "b", "port": 1, "command": ["a", 2]}, "config.command[1]", "string"),
        ({"image": "b", "port": 1, "env": {"A": 1}}, "config.env.A", "string"),
        ({"image": "b", "port": 1, "env": {"A": "1", "B": "2", "C": "3"}}, "config.env", "at most 2"),
        ({"image": "b", "port": 1, "maybe": 3}, "config.maybe", "string or null"),
        ({"image": "b", "port": 1, "extra": 1}, "config.extra", "not a known field"),
        (["image"], "config", "object"),
    ],
)
def test_each_rule_refuses_and_names_the_field(value: Any, field: str, words: str) -> None:
    message = _refused(value)
    assert message.startswith(f"{field}: "), message
    assert words in message, message


def test_schemas_with_unsupported_keywords_are_refused() -> None:
    check_schema(SCHEMA)
    with pytest.raises(SchemaError):
        check_schema({"type": "object", "properties": {"a": {"type": "string", "format": "email"}}})
    with pytest.raises(SchemaError):
        check_schema({"oneOf": []})
