"""OPTIONS answers every method of its path in ``Allow``.

Litestar builds a path's OPTIONS handler with the methods of the first handlers registered for that
path; when two areas register the same path (GET in one router, POST in another), the merged route
keeps the stale handler, whose ``Allow`` leaves methods out (litestar issue #4169). This middleware
rewrites ``Allow`` on OPTIONS answers from the app's routes, filled once the app is built.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class AllowedMethods:
    """Path template -> the ``Allow`` value of its route; filled by ``learn`` after the app is built."""

    def __init__(self) -> None:
        self.by_path: dict[str, str] = {}

    def learn(self, app: Litestar) -> None:
        for route in app.routes:
            if isinstance(route, HTTPRoute):
                self.by_path[route.path] = ", ".join(sorted(route.methods))


class AllowHeaderMiddleware:
    def __init__(self, app: ASGIApp, allowed: AllowedMethods) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        paths = getattr(handler, "paths", None) or ()
        allow = next((self.allowed.by_path[p] for p in paths if p in self.allowed.by_path), None)
        if allow is None:
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", allow.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)
