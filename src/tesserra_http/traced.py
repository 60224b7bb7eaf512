"""The outermost ASGI layer when tracing is on: each HTTP request is the root span of its trace, named
``METHOD /route/{template}`` once routed (never the raw path, which may carry ids or tokens), with its
method, route and status. Headers are never recorded (Authorization, cookies). The guard sets the
request id on it; the use cases, statements and tool calls under it are its children. A request that
brings W3C trace context (``traceparent``, ``tracestate``) continues the caller's trace: its span is the
child of the caller's (the adapter's propagator reads them; a malformed one is ignored).

A WebSocket is one span for its whole life, ``WS /route/{template}``: from the upgrade to the close,
with the handshake's outcome (``http.response.status_code``: 101 accepted, or the refusal's status), the
close code and which side closed first, and the messages and bytes relayed each way counted as they
pass (counters, never a span per frame, never a payload). The route's handler may add what it acted on
(the sandbox proxy: ``tesserra.sandbox_id``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from tesserra_core.ports.tracing import Attribute, Tracer
from tesserra_http.observed import METHODS, route_template

_TRACE_CONTEXT = frozenset({b"traceparent", b"tracestate"})
"""W3C trace context headers (ASGI gives header names in lower case)."""


class TracedApp:
    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.WEBSOCKET:
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method: str = scope.get("method", "")
        if method not in METHODS:
            method = "OTHER"
        response: dict[str, Any] = {"status": 500}

        async def send_traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            await send(message)

        await self._served(
            scope,
            receive,
            send_traced,
            named=("HTTP " + method, method),
            attributes={"http.request.method": method},
            outcome=lambda: {"http.response.status_code": response["status"]},
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = _WebSocketSeen()

        async def receive_counted() -> ReceiveMessage:
            message = await receive()
            seen.received(message)
            return message

        async def send_counted(message: Message) -> None:
            seen.sent(message)
            await send(message)

        await self._served(
            scope,
            receive_counted,
            send_counted,
            named=("WS", "WS"),
            attributes={"network.protocol.name": "websocket"},
            outcome=seen.attributes,
        )

    async def _served(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        named: tuple[str, str],
        attributes: Mapping[str, Attribute],
        outcome: Callable[[], Mapping[str, Attribute]],
    ) -> None:
        """The app serves the call as the root span of its trace (or the child of the caller's, which sent its
        trace context). ``named``: the span's name until routed, and the word before the route's template after;
        once served it gets the route and the ``outcome()`` attributes."""
        opened, routed = named
        with self.tracer.span(opened, attributes, server=True, remote=_remote(scope)) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                route = route_template(scope)
                span.update_name(f"{routed} {route}")
                span.set_attribute("http.route", route)
                for key, value in outcome().items():
                    span.set_attribute(key, value)


def _remote(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"] if name in _TRACE_CONTEXT
    }


class _WebSocketSeen:
    """What went through one WebSocket, counted as it passes: the handshake's outcome, the first close
    (its code and side) and the messages and payload bytes each way."""

    __slots__ = ("close_code", "closed_by", "in_bytes", "in_messages", "out_bytes", "out_messages", "status")

    def __init__(self) -> None:
        self.status = 0
        self.close_code: int | None = None
        self.closed_by = ""
        self.in_messages = self.in_bytes = self.out_messages = self.out_bytes = 0

    def received(self, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.receive":
            self.in_messages += 1
            self.in_bytes += _size(message)
        elif kind == "websocket.disconnect" and self.close_code is None:
            self.close_code, self.closed_by = int(message.get("code", 1005)), "client"

    def sent(self, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            self.out_messages += 1
            self.out_bytes += _size(message)
        elif kind == "websocket.accept":
            self.status = 101
        elif kind == "websocket.http.response.start":
            self.status = int(message["status"])
        elif kind == "websocket.close" and self.close_code is None:
            self.close_code, self.closed_by = int(message.get("code", 1000)), "server"
            if not self.status:  # closed before the handshake: the server refused it
                self.status = 403

    def attributes(self) -> dict[str, int | str]:
        found: dict[str, int | str] = {
            "http.response.status_code": self.status or 500,
            "tesserra.websocket.messages_received": self.in_messages,
            "tesserra.websocket.bytes_received": self.in_bytes,
            "tesserra.websocket.messages_sent": self.out_messages,
            "tesserra.websocket.bytes_sent": self.out_bytes,
        }
        if self.close_code is not None:
            found["tesserra.websocket.close_code"] = self.close_code
            found["tesserra.websocket.closed_by"] = self.closed_by
        return found


def _size(message: Mapping[str, Any]) -> int:
    """A message's payload in bytes (text as UTF-8)."""
    if message.get("bytes") is not None:
        return len(message["bytes"])
    text = message.get("text")
    return len(text.encode()) if text is not None else 0
