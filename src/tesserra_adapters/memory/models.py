"""A scripted model provider: plays back the turns a test scripts, one per call, and records every
turn it was given, so a test asserts what the loop sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from tesserra_core.ports.models import ChatTurn, Finish, ModelEvent, ReportedUsage, TextDelta, ToolCall

Step = ModelEvent | Exception | float
"""An event to emit, an error to raise, or seconds to wait."""


def say(text: str, *, usage: tuple[int, int] | None = None, pieces: int = 1) -> list[Step]:
    """A turn that answers ``text`` (in ``pieces`` deltas), with the usage reported if given."""
    size = max(1, -(-len(text) // pieces))
    steps: list[Step] = [TextDelta(text[i : i + size]) for i in range(0, len(text), size)]
    if usage is not None:
        steps.append(ReportedUsage(*usage))
    return [*steps, Finish("stop")]


def call(name: str, arguments: dict[str, Any] | str | None = None, *, call_id: str = "call_1") -> list[Step]:
    """A turn that asks for one tool call."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return [ToolCall(id=call_id, name=name, arguments=text), Finish("tool_calls")]


class ScriptedModel:
    def __init__(self, *turns: Sequence[Step], then: Sequence[Step] | None = None) -> None:
        self._turns: list[Sequence[Step]] = list(turns)
        self._then = then
        """What every turn plays once the script is spent (None: a spent script is a test's error)."""
        self.requests: list[ChatTurn] = []

    def script(self, *turns: Sequence[Step], then: Sequence[Step] | None = None) -> None:
        self._turns = list(turns)
        self._then = then
        self.requests.clear()

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ModelEvent]:
        self.requests.append(turn)
        if self._turns:
            steps: Iterable[Step] = self._turns.pop(0)
        elif self._then is not None:
            steps = self._then
        else:
            raise AssertionError("the scripted model was called more often than scripted")
        for step in steps:
            if isinstance(step, Exception):
                raise step
            if isinstance(step, float):
                await asyncio.sleep(step)
                continue
            yield step
