"""The bounds on forwarded JSON (a tool call's arguments): depth, items, encoded size, plain data."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from tesserra_core.domain.jsonbounds import TOOL_ARGUMENTS, JsonBounds, check_json
from tesserra_core.errors import ValidationFailed


def nested(depth: int, *, inner: Any = 1, kind: str = "list") -> dict[str, Any]:
    """An object nesting ``depth`` containers in all (itself counting as 1)."""
    value: Any = inner
    for _ in range(depth - 1):
        value = [value] if kind == "list" else {"k": value}
    return {"value": value}


def refusal(value: object, bounds: JsonBounds = TOOL_ARGUMENTS) -> str:
    with pytest.raises(ValidationFailed) as caught:
        check_json(value, bounds)
    return caught.value.code


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_depth_32_passes_and_33_does_not(kind: str) -> None:
    check_json(nested(32, kind=kind))
    assert refusal(nested(33, kind=kind)) == "arguments_too_deep"


@pytest.mark.parametrize("depth", [200, 255, 256, 300, 999, 100_000])
def test_deep_values_are_refused_at_once_without_recursion(depth: int) -> None:
    value = nested(depth)
    started = time.perf_counter()
    assert refusal(value) == "arguments_too_deep"
    assert time.perf_counter() - started < 0.05


def test_scalars_do_not_count_as_levels() -> None:
    check_json(nested(32, inner="a string"))
    check_json(nested(32, inner=None))
    check_json({})


def test_items_are_counted_across_the_whole_value() -> None:
    check_json({"a": [0] * 5_000, "b": [0] * 4_998})  # 2 members + 9,998 elements
    assert refusal({"a": [0] * 5_000, "b": [0] * 4_999}) == "arguments_too_large"
    assert refusal({f"k{i}": 0 for i in range(10_001)}) == "arguments_too_large"
    assert refusal({"a": [[0] * 100 for _ in range(100)]}) == "arguments_too_large"  # 1 + 100 + 10,000


def test_the_encoded_size_is_bounded() -> None:
    bounds = JsonBounds(max_bytes=100)
    exactly = {"v": "x" * (100 - len(b'{"v":""}'))}
    assert len(msgspec.json.encode(exactly)) == 100
    check_json(exactly, bounds)
    assert refusal({"v": "x" * 101}, bounds) == "arguments_too_large"
    # Escapes count as encoded: 20 control characters take 6 bytes each.
    assert refusal({"v": "\x01" * 20}, bounds) == "arguments_too_large"
    assert refusal({"v": "x" * (256 * 1024)}) == "arguments_too_large"
    assert refusal({"x" * (256 * 1024 + 1): 0}) == "arguments_too_large"


def test_a_huge_string_is_refused_before_it_is_encoded() -> None:
    value = {"v": "x" * 50_000_000}
    started = time.perf_counter()
    assert refusal(value) == "arguments_too_large"
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("value", [{"v": {1, 2}}, {"v": b"bytes"}, {"v": object()}, {1: "non-string key"}])
def test_only_plain_json_data_passes(value: object) -> None:
    assert refusal(value) == "invalid_arguments"


def test_every_json_type_passes() -> None:
    check_json({"s": "é", "i": -(2**63), "f": 1.5, "t": True, "n": None, "l": [1, "a"], "o": {"x": {}}})
