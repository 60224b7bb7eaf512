"""The outermost ASGI layer: each HTTP request's time and status, reported per route template to the
telemetry (metrics) and, when asked, written as one access log line. Outside the router, so that an
unmatched path counts too (as one label, never its raw path). Installed only when it has work to do."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tesserra_core.ports.telemetry import Telemetry

access_log = logging.getLogger("tesserra.access")

UNMATCHED = "<unmatched>"
"""The route label of a request no route took (a 404 or 405 before routing): raw paths never label."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObservedApp:
    def __init__(self, app: ASGIApp, telemetry: Telemetry, *, log_access: bool) -> None:
        self.app = app
        self.telemetry = telemetry
        self.log_access = log_access
        self.measure = telemetry.enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 500, "headers": ()}

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = message.get("headers", ())
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method: str = scope.get("method", "")
            if method not in METHODS:
                method = "OTHER"
            status: int = response["status"]
            if self.measure:
                self.telemetry.request(route, method, status, seconds)
            if self.log_access:
                _log_access(scope, route, method, status, seconds, response["headers"])


def route_template(scope: Scope) -> str:
    """The template of the route that took the request; a mount's own path (Litestar gives a mount the
    root's template, which would lump /mcp and the sandbox proxy in with ``/``)."""
    handler = scope.get("route_handler")
    if handler is None:
        return UNMATCHED
    if getattr(handler, "is_mount", False):
        return min(handler.paths)
    template: str = scope.get("path_template") or UNMATCHED
    return template


def _log_access(scope: Scope, route: str, method: str, status: int, seconds: float, headers: Any) -> None:
    """One line per request: the route template, never the raw path or query (which may carry tokens)."""
    request_id = next((value.decode("latin-1") for name, value in headers if name == b"x-request-id"), None)
    actor = scope.get("user")
    access_log.info(
        "%s %s %s",
        method,
        route,
        status,
        extra={
            "request_id": request_id or "-",
            "route": route,
            "method": method,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "tenant_id": getattr(actor, "tenant_id", None),
            "principal_id": getattr(actor, "user_id", None),
        },
    )
