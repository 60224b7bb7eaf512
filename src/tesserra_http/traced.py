"""The outermost ASGI layer when tracing is on: each HTTP request is the root span of its trace, named
``METHOD /route/{template}`` once routed (never the raw path, which may carry ids or tokens), with its
method, route and status. Headers are never recorded (Authorization, cookies). The guard sets the
request id on it; the use cases, statements and tool calls under it are its children. A request that
brings W3C trace context (``traceparent``, ``tracestate``) continues the caller's trace: its span is the
child of the caller's (the adapter's propagator reads them; a malformed one is ignored)."""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tesserra_core.ports.tracing import Tracer
from tesserra_http.observed import METHODS, route_template

_TRACE_CONTEXT = frozenset({b"traceparent", b"tracestate"})
"""W3C trace context headers (ASGI gives header names in lower case)."""


class TracedApp:
    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        remote = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _TRACE_CONTEXT
        }
        with self.tracer.span("HTTP " + method, {"http.request.method": method}, server=True, remote=remote) as span:
            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", response["status"])
