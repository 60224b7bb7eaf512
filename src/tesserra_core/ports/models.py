"""The model provider: one chat turn in (messages, tools, sampling), a stream of events out.

Events: ``TextDelta`` (a piece of the answer), ``ToolCall`` (one complete call the model asks for),
``ReportedUsage`` (what the provider counted, if it reports it at all) and, last, ``Finish``.
Adapters translate their failures: ``Unavailable`` (503: no provider configured, unreachable,
overloaded) or ``UpstreamFailed`` (502: it refused the request or answered nonsense).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

import msgspec


class ToolCall(msgspec.Struct, frozen=True, kw_only=True, tag="tool_call"):
    id: str
    name: str
    arguments: str
    """JSON text, as the model wrote it (it may be invalid)."""


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    parameters: dict[str, Any]
    """A JSON Schema of the arguments (an object)."""


class ChatTurn(msgspec.Struct, frozen=True, kw_only=True):
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    model: str | None = None
    """None: the provider's configured model."""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class TextDelta(msgspec.Struct, frozen=True, tag="text"):
    text: str


class ReportedUsage(msgspec.Struct, frozen=True, tag="usage"):
    prompt_tokens: int
    completion_tokens: int


class Finish(msgspec.Struct, frozen=True, tag="finish"):
    reason: str
    """The provider's finish reason (stop, tool_calls, length, ...)."""


ModelEvent = TextDelta | ToolCall | ReportedUsage | Finish


class ModelProvider(Protocol):
    def stream(self, turn: ChatTurn) -> AsyncIterator[ModelEvent]:
        """The turn's events, ending with ``Finish``. Raises ``Unavailable`` or ``UpstreamFailed``."""
        ...
