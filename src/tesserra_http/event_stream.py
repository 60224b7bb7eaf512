"""Server-sent events' OpenAPI story. The response itself (``event_stream``) is tesserra_driver_support's,
which the console streams its chat with too."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from tesserra_driver_support.event_stream import EVENT_STREAM

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
