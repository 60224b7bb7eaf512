"""One span per use-case call, named after it (``installations.call_tool``), when tracing is on: the
facade swaps each area's coroutine use cases for a wrapper; with tracing off nothing is wrapped."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

from tesserra_core.ports.tracing import Tracer

A = TypeVar("A")


class TracedUseCase:
    """Calls the use case inside a span; every other attribute is the use case's own."""

    __slots__ = ("_name", "_tracer", "_use_case")

    def __init__(self, use_case: Any, name: str, tracer: Tracer) -> None:
        self._use_case = use_case
        self._name = name
        self._tracer = tracer

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._tracer.span(self._name, {"tesserra.use_case": self._name}):
            return await self._use_case(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._use_case, name)


def traced_area(area: A, area_name: str, tracer: Tracer) -> A:
    """The area with each of its coroutine use cases (a dataclass whose ``__call__`` is ``async def``)
    wrapped; the area itself when it is not a dataclass of use cases."""
    if not dataclasses.is_dataclass(area) or isinstance(area, type):
        return area
    changes = {
        field.name: TracedUseCase(value, f"{area_name}.{field.name}", tracer)
        for field in dataclasses.fields(area)
        if callable(value := getattr(area, field.name)) and inspect.iscoroutinefunction(type(value).__call__)
    }
    return dataclasses.replace(area, **changes) if changes else area
