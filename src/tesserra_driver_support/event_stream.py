"""Server-sent events as a Litestar response, for every driver that streams them: an answer's events (the
REST API's and the console's chat, framed by the core's ``StreamEvent.frame``, so both send the same bytes)
and the console's live status fragments."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from litestar.response import Stream

from tesserra_core.domain.chat_streams import StreamEvent

EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""A stream is never cached, and never buffered by a proxy (each event goes out when it is made)."""


def sse_stream(chunks: AsyncIterable[bytes], status_code: int = 200) -> Stream:
    """Bytes already framed as server-sent events, sent as they come."""
    return Stream(chunks, media_type=EVENT_STREAM, status_code=status_code, headers=dict(STREAM_HEADERS))


async def _frames(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        yield event.frame()


def event_stream(events: AsyncIterator[StreamEvent], status_code: int = 200) -> Stream:
    """An answer's events as sent by /api and the console alike."""
    return sse_stream(_frames(events), status_code)
