"""An OpenAI-compatible Chat Completions server of the test suite's own (Starlette under uvicorn on
loopback), streaming server-sent events as real servers do.

Each test scripts its turns, one per request, with the scripted provider's steps
(``tesserra_adapters.memory.models``): text deltas, tool calls (sent in pieces, by index), usage (sent
only when scripted, as the last chunk, like a server asked for ``include_usage``; none otherwise),
``Finish``, seconds to wait; an ``Unavailable`` answers 503 and an ``UpstreamFailed`` 400 before the
stream starts, and ``DROP`` breaks the stream off mid-answer (no finish, no ``[DONE]``). Every request
body is recorded, so tests assert the exact shapes sent (messages, tools, tool_choice, stream). A request
with ``stream`` false gets the turn as one chat completion.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tesserra_adapters.memory.models import Step
from tesserra_core.errors import Unavailable, UpstreamFailed
from tesserra_core.ports.models import Finish, ReportedUsage, TextDelta, ToolCall
from tests.support import free_port


class _Drop(Exception):
    """Breaks the stream off."""


DROP = _Drop("the scripted server drops the stream")


@dataclass(frozen=True)
class Forever:
    """Text deltas every ``every`` seconds, never ending (until the client goes away)."""

    text: str = "blá "
    every: float = 0.05


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    body["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body.update(extra)
    return f"data: {json.dumps(body)}\n\n".encode()


def _tool_call_chunks(call: ToolCall, index: int) -> list[bytes]:
    """A tool call in three pieces: id and name, then the arguments in two halves."""
    half = len(call.arguments) // 2
    opening = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
    return [
        _chunk({"tool_calls": [opening]}),
        _chunk({"tool_calls": [{"index": index, "function": {"arguments": call.arguments[:half]}}]}),
        _chunk({"tool_calls": [{"index": index, "function": {"arguments": call.arguments[half:]}}]}),
    ]


Scripted = Step | Forever | asyncio.Event
"""A step of a scripted turn: the scripted provider's, a never-ending stream, or a gate the test opens."""


@dataclass
class ScriptedModelServer:
    url: str = ""
    """The base URL (``http://127.0.0.1:<port>/v1``)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)
    """When each stream ended or was abandoned by the client (``time.monotonic()``)."""
    sent: list[float] = field(default_factory=list)
    """When each text delta was handed to the server (``time.perf_counter()``)."""
    _turns: list[Sequence[Scripted]] = field(default_factory=list)
    _then: Sequence[Scripted] | None = None

    def script(self, *turns: Sequence[Scripted], then: Sequence[Scripted] | None = None) -> None:
        """The turns of the next requests, one each (``then`` for every request after them)."""
        self._turns = list(turns)
        self._then = then
        self.requests.clear()
        self.headers.clear()
        self.closed.clear()
        self.sent.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])

    async def completions(self, request: Request) -> Response:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        if self._turns:
            steps: Sequence[Scripted] = self._turns.pop(0)
        elif self._then is not None:
            steps = self._then
        else:
            return JSONResponse({"error": {"message": "nothing scripted"}}, 500)
        for step in steps:
            if isinstance(step, Unavailable):
                return JSONResponse({"error": {"message": step.message}}, 503)
            if isinstance(step, UpstreamFailed):
                return JSONResponse({"error": {"message": step.message}}, 400)
            if not isinstance(step, float):
                break
        if self.requests[-1].get("stream") is False:
            return JSONResponse(await self._whole(steps))
        return StreamingResponse(self._stream(steps), media_type="text/event-stream")

    async def _whole(self, steps: Sequence[Scripted]) -> dict[str, Any]:
        """The turn as one chat completion (a request with ``stream`` false): text joined, tool calls, usage."""
        text, calls, usage, finish = "", [], None, None
        for step in steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif isinstance(step, TextDelta):
                text += step.text
            elif isinstance(step, ToolCall):
                function = {"name": step.name, "arguments": step.arguments}
                calls.append({"id": step.id, "type": "function", "function": function})
            elif isinstance(step, ReportedUsage):
                usage = {"prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens}
            elif isinstance(step, Finish):
                finish = step.reason
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        body: dict[str, Any] = {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": "m"}
        body["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
        if usage is not None:
            body["usage"] = usage
        return body

    async def _stream(self, steps: Sequence[Scripted]) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks(steps):
                yield chunk
        finally:
            self.closed.append(time.monotonic())

    async def _chunks(self, steps: Sequence[Scripted]) -> AsyncIterator[bytes]:
        calls = 0
        usage: dict[str, int] | None = None
        yield _chunk({"role": "assistant", "content": ""})
        for step in steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif step is DROP:
                raise DROP
            elif isinstance(step, asyncio.Event):  # a gate the test opens
                await step.wait()
            elif isinstance(step, Forever):
                while True:
                    self.sent.append(time.perf_counter())
                    yield _chunk({"content": step.text})
                    await asyncio.sleep(step.every)
            elif isinstance(step, TextDelta):
                self.sent.append(time.perf_counter())
                yield _chunk({"content": step.text})
            elif isinstance(step, ToolCall):
                for piece in _tool_call_chunks(step, calls):
                    yield piece
                calls += 1
            elif isinstance(step, ReportedUsage):
                total = step.prompt_tokens + step.completion_tokens
                usage = {
                    "prompt_tokens": step.prompt_tokens,
                    "completion_tokens": step.completion_tokens,
                    "total_tokens": total,
                }
            elif isinstance(step, Finish):
                yield _chunk({}, finish=step.reason)
        if usage is not None:  # after the finish, in a chunk of its own, as servers asked for include_usage do
            yield _chunk(None, usage=usage)
        yield b"data: [DONE]\n\n"


@asynccontextmanager
async def scripted_model() -> AsyncIterator[ScriptedModelServer]:
    """The server on a free loopback port, in this event loop, for the life of the block."""
    model = ScriptedModelServer()
    port = free_port()
    model.url = f"http://127.0.0.1:{port}/v1"
    config = uvicorn.Config(model.app(), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield model
    finally:
        server.should_exit = True
        await task
