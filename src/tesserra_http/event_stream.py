"""Server-sent events: an answer's stored events as a streamed response, and their OpenAPI story."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Stream

from tesserra_core.domain.chat_streams import StreamEvent

EVENT_STREAM = "text/event-stream"

EVENTS_TEXT = """Server-sent events, each with `id:` (1, 2, ... per answer), `event:` and one `data:` line of JSON:

- `message_start` `{"message_id", "conversation_id", "reply_to"}`: the answer (an assistant message) exists;
- `text_delta` `{"text"}`: a piece of the answer's text;
- `tool_call` `{"id", "name", "arguments"}`: the model asks for a tool call (arguments as JSON text);
- `approval_required` `{"approval_id", "tool_call_id", "name", "arguments", "expires_at"}`: the call is to a
  destructive tool and waits (the answer is `pending_approval`) until the conversation's user decides with
  `POST /api/conversas/{id}/mensagens/{message_id}/aprovacoes/{approval_id}` `{"decision": "approve"|"deny"}`;
  then the same answer goes on (the tool runs as that user, or its `tool_result` is denied `denied_by_user`;
  undecided by `expires_at`, denied `approval_timeout`);
- `tool_result` `{"id", "outcome", "result"}`: what the tool answered (outcome ok, denied, invalid, failed);
- `usage` `{"prompt_tokens", "completion_tokens", "estimated"}`: the tokens of one model step;
- `error` `{"code", "message"}`: the answer failed (model_unavailable, model_failed, ...), was cancelled
  (`cancelled`) or the server stopped (`interrupted`);
- `done`: the final message (as in `GET .../mensagens`, status complete, failed, cancelled or interrupted),
  always the last event.

The answer is generated in the server, not in the request: a client that disconnects loses nothing.
`GET /api/conversas/{id}/mensagens/{message_id}/eventos` with `Last-Event-ID` replays the events after it
byte for byte, then follows the live ones until `done`."""


def event_stream_spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=str, media_type=EVENT_STREAM, description=description, generate_examples=False)


async def _frames(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        yield event.frame()


def event_stream(events: AsyncIterator[StreamEvent], status_code: int = 200) -> Stream:
    """The events as sent: never cached, never buffered by a proxy."""
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return Stream(_frames(events), media_type=EVENT_STREAM, status_code=status_code, headers=headers)
