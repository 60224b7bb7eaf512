"""/ready and /health answered ahead of Litestar's routing and middleware stack: a load balancer asks
each node every second (HAProxy's check is a new connection and a GET /ready), an orchestrator asks
/health as often, and neither needs what the stack does (authentication, rate limits, idempotency,
JSON bodies, the Allow header). What those layers did for them is done here: the request id (a
well-formed ``X-Request-Id`` echoed, or a new one, sent back on the answer) and the route's label
for metrics and access logs. The bodies, status codes and headers are the routes' own
(``controllers.operations`` and ``controllers.service``, still registered: they document the routes
in OpenAPI and answer what is not a plain GET, e.g. a HEAD or DELETE with its 405, or a bad Host).

Under ``tesserra serve`` with the app served bare, the server protocol (``protocol``) hands a plain
``GET /ready`` or ``GET /health`` to ``direct`` as its head arrives, which writes the answer onto the
connection (``proxy.direct.DirectSend``); otherwise the app's ``__call__`` (``app._Litestar``) sends
it through ASGI. Either way the readiness is read at the request: /ready answers 503 from the moment a
drain starts."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import msgspec

from tesserra_core.ports.tracing import Tracer
from tesserra_http.context import incoming_request_id
from tesserra_http.proxy.direct import DirectSend
from tesserra_http.proxy.entry import valid_host
from tesserra_http.proxy.forward import Receive, Scope, Send
from tesserra_http.readiness import DRAINING, LIVE, READY, Readiness

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

_JSON = (b"content-type", b"application/json")


def _answer(status: int, view: msgspec.Struct) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    encoded = msgspec.json.encode(view)
    return status, encoded, [_JSON, (b"content-length", str(len(encoded)).encode())]


_LIVE = _answer(200, LIVE)
_READY = _answer(200, READY)
_DRAINING = _answer(503, DRAINING)


class Probes:
    """The answers of ``GET /ready`` and ``GET /health``, given ``readiness`` and the routes'
    handlers (``handlers``: path -> Litestar route handler, which labels the request's route)."""

    PATHS = frozenset({"/ready", "/health"})
    TARGETS = frozenset({b"/ready", b"/health"})
    """The request targets the server protocol hands to ``direct`` (no query string)."""

    def __init__(self, readiness: Readiness, handlers: dict[str, Any], app: Any, tracer: Tracer) -> None:
        self.readiness = readiness
        self.handlers = handlers
        self.tracer = tracer
        """The request's span (a server wrapped for tracing takes the ASGI way) gets its request id."""
        self.app = app
        """The app, which answers what ``direct`` is handed but does not take (a bad Host header)."""

    def takes(self, scope: Scope) -> bool:
        """Whether the request is a probe this answers: a GET of /ready or /health with a valid Host."""
        return (
            scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in self.PATHS and valid_host(scope)
        )

    def _label(self, scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        path: str = scope["path"]
        scope["route_handler"] = self.handlers.get(path)
        scope["path_template"] = path
        if path == "/health":
            return _LIVE
        return _DRAINING if self.readiness.draining else _READY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body, headers = self._label(scope)
        request_id = incoming_request_id(scope)  # type: ignore[arg-type]
        self.tracer.request_id(request_id)
        own = (b"x-request-id", request_id.encode())
        await send({"type": "http.response.start", "status": status, "headers": [*headers, own]})
        await send({"type": "http.response.body", "body": body})

    def direct(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        """A plain probe the server protocol hands over as it arrives (``protocol``), ``send`` being its
        uvicorn cycle's: the answer goes straight onto the connection."""
        if not valid_host(scope):
            return self.app(scope, receive, send)  # type: ignore[no-any-return]
        cycle: RequestResponseCycle = send.__self__  # type: ignore[attr-defined]
        request_id = incoming_request_id(scope)  # type: ignore[arg-type]
        own = b"x-request-id: " + request_id.encode() + b"\r\n"
        direct = DirectSend(cycle, own, asyncio.get_running_loop())
        return self._send(scope, direct)

    async def _send(self, scope: Scope, send: DirectSend) -> None:
        status, body, headers = self._label(scope)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
