"""The outermost ASGI layer when tracing is on: each HTTP request is the root span of its trace, named
``METHOD /route/{template}`` once routed (never the raw path, which may carry ids or tokens), with its
method, route and status. Headers are never recorded (Authorization, cookies). The guard sets the
request id on it; the use cases, statements and tool calls under it are its children."""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tesserra_core.ports.tracing import Tracer
from tesserra_http.observed import METHODS, route_template


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

        with self.tracer.span("HTTP " + method, {"http.request.method": method}, server=True) as span:
            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", response["status"])
