"""The events of a streamed answer, as stored and as sent (server-sent events).

Every event has the answer's ``message_id`` and a ``seq`` (1, 2, ...) that is its SSE ``id:``; its
``data`` is JSON text, stored as sent, so a replay is byte for byte what was streamed. An answer's
events are ``message_start``, then any of ``text_delta``, ``tool_call``, ``approval_required``,
``tool_result``, ``usage``, then ``error`` if it failed, and always last ``done`` (the final message).
"""

from __future__ import annotations

import enum

import msgspec


class EventName(enum.StrEnum):
    MESSAGE_START = "message_start"
    TEXT_DELTA = "text_delta"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    APPROVAL_REQUIRED = "approval_required"
    USAGE = "usage"
    ERROR = "error"
    DONE = "done"


class StreamEvent(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    message_id: str
    seq: int
    name: EventName
    data: str
    """JSON text."""

    def frame(self) -> bytes:
        """The event as a server-sent event."""
        return f"id: {self.seq}\nevent: {self.name.value}\ndata: {self.data}\n\n".encode()


def partial_text(events: list[StreamEvent]) -> str:
    """The text an unfinished answer streamed."""
    decode = msgspec.json.decode
    return "".join(decode(e.data)["text"] for e in events if e.name is EventName.TEXT_DELTA)
