"""Model providers: any OpenAI-compatible Chat Completions server over httpx (vLLM, Ollama, llama.cpp,
hosted ones), streamed; and the one that answers when none is configured.

What real servers do and this adapter copes with: some refuse an assistant message whose content is
null (it sends ""); some stream no usage (the loop then counts tokens itself, flagged estimated); tool
calls arrive in pieces, by index, and are handed on whole; some cannot stream a turn that offers tools
(llama-cpp-python's chatml-function-calling: "Automatic streaming tool choice is not supported"), so with
``stream_tools`` off those turns ask for the whole completion and hand it on as the same events (its text
as one delta). Failures leave as core errors:
unreachable, timed out, 429 or 5xx -> ``Unavailable`` (503); any other refusal, a broken stream or
nonsense -> ``UpstreamFailed`` (502). Nothing of the provider's answer body reaches the caller.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tesserra_adapters.outbound import OnDemandClient
from tesserra_core.errors import Unavailable, UpstreamFailed
from tesserra_core.ports.models import (
    ChatMessage,
    ChatTurn,
    Finish,
    ModelEvent,
    ReportedUsage,
    TextDelta,
    ToolCall,
)

if TYPE_CHECKING:
    import httpx

NOT_CONFIGURED = "no model provider is configured: set TESSERRA_MODEL_BASE_URL (and TESSERRA_MODEL)"


class NoModel:
    """The provider when none is configured: every turn is 503 ``model_unavailable``."""

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ModelEvent]:
        raise Unavailable(NOT_CONFIGURED, code="model_unavailable")
        yield  # pragma: no cover - makes this an async generator


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}  # never null: some servers refuse it
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def request_body(turn: ChatTurn, model: str, *, ask_usage: bool = True, stream: bool = True) -> dict[str, Any]:
    """The Chat Completions request for ``turn``: streamed (unless ``stream`` is off), tools offered with
    ``tool_choice`` auto."""
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in turn.messages], "stream": stream}
    if ask_usage and stream:
        body["stream_options"] = {"include_usage": True}
    if turn.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in turn.tools
        ]
        body["tool_choice"] = "auto"
    for name in ("temperature", "top_p", "max_tokens"):
        value = getattr(turn, name)
        if value is not None:
            body[name] = value
    return body


@dataclass
class _Calls:
    """Tool calls arriving in pieces, by index."""

    parts: dict[int, dict[str, str]] = field(default_factory=dict)

    def add(self, deltas: list[Any]) -> None:
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                raise _bad()
            index = delta.get("index", position)
            key = index if isinstance(index, int) else position
            part = self.parts.setdefault(key, {"id": "", "name": "", "args": ""})
            function = delta.get("function") or {}
            if isinstance(delta.get("id"), str):
                part["id"] = delta["id"]
            if isinstance(function.get("name"), str):
                part["name"] += function["name"]
            if isinstance(function.get("arguments"), str):
                part["args"] += function["arguments"]

    def done(self) -> list[ToolCall]:
        calls = [self.parts[i] for i in sorted(self.parts)]
        self.parts = {}
        return [ToolCall(id=c["id"] or f"call_{n}", name=c["name"], arguments=c["args"]) for n, c in enumerate(calls)]


def _bad() -> UpstreamFailed:
    return UpstreamFailed("the model provider answered something that is not a chat completion", code="model_failed")


class OpenAiCompatible:
    """POST {base_url}/chat/completions, streamed (server-sent events)."""

    def __init__(
        self,
        client: OnDemandClient,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        ask_usage: bool = True,
        stream_tools: bool = True,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._ask_usage = ask_usage
        self._stream_tools = stream_tools

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ModelEvent]:
        import httpx

        model = turn.model or self._model
        if not model:
            raise Unavailable("no model is configured: set TESSERRA_MODEL", code="model_unavailable")
        stream = self._stream_tools or not turn.tools
        body = request_body(turn, model, ask_usage=self._ask_usage, stream=stream)
        accept = {"Accept": "text/event-stream" if stream else "application/json"}
        try:
            async with self._client().stream("POST", self._url, json=body, headers=accept | self._auth) as response:
                if response.status_code != 200:
                    raise _refused(response.status_code)
                events = _events(response) if stream else _whole(await response.aread())
                async for event in events:
                    yield event
        except httpx.TimeoutException:
            raise Unavailable("the model provider did not answer in time", code="model_unavailable") from None
        except (httpx.ConnectError, httpx.NetworkError) as exc:
            if isinstance(exc, httpx.ConnectError):
                raise Unavailable("the model provider is unreachable", code="model_unavailable") from None
            raise UpstreamFailed("the model provider's stream broke off", code="model_stream_broken") from None
        except httpx.HTTPError:
            raise UpstreamFailed("the model provider's stream broke off", code="model_stream_broken") from None


def _refused(status: int) -> Exception:
    if status == 429 or status >= 500:
        return Unavailable(f"the model provider is unavailable (HTTP {status})", code="model_unavailable")
    return UpstreamFailed(f"the model provider refused the request (HTTP {status})", code="model_failed")


def _chunk(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise _bad() from None
    if not isinstance(chunk, dict):
        raise _bad()
    if isinstance(chunk.get("error"), dict):
        raise UpstreamFailed("the model provider failed while answering", code="model_failed")
    return chunk


async def _events(response: httpx.Response) -> AsyncIterator[ModelEvent]:
    calls = _Calls()
    usage: ReportedUsage | None = None
    reason: str | None = None
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = _chunk(data)
        reported = chunk.get("usage")
        if isinstance(reported, dict):
            usage = ReportedUsage(int(reported.get("prompt_tokens") or 0), int(reported.get("completion_tokens") or 0))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                yield TextDelta(text)
            if delta.get("tool_calls"):
                calls.add(delta["tool_calls"])
            if choice.get("finish_reason"):
                reason = str(choice["finish_reason"])
    else:
        if reason is None:
            raise UpstreamFailed("the model provider's stream ended before the answer did", code="model_stream_broken")
    for call in calls.done():
        yield call
    if usage is not None:
        yield usage
    yield Finish(reason or "stop")


async def _whole(body: bytes) -> AsyncIterator[ModelEvent]:
    """A whole (not streamed) chat completion as the events a stream of it would give."""
    completion = _chunk(body.decode(errors="replace"))
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _bad()
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise _bad()
    text = message.get("content")
    if isinstance(text, str) and text:
        yield TextDelta(text)
    calls = _Calls()
    tool_calls = message.get("tool_calls")
    if tool_calls:
        if not isinstance(tool_calls, list):
            raise _bad()
        calls.add(tool_calls)
    for call in calls.done():
        yield call
    reported = completion.get("usage")
    if isinstance(reported, dict):
        yield ReportedUsage(int(reported.get("prompt_tokens") or 0), int(reported.get("completion_tokens") or 0))
    yield Finish(str(choices[0].get("finish_reason") or "stop"))
