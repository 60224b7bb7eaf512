"""The sandbox proxy's requests go to it ahead of Litestar's routing and middleware stack (five layers
of wrappers, a route lookup and a send wrapper per layer on every proxied request, none of which the
proxy uses: it authenticates with its own token, takes no JSON body, has no rate limit nor idempotency).
What those layers did for it is done here, once: the request id (a well-formed ``X-Request-Id`` echoed,
or a new one; set for log lines and error bodies, and sent back on the response), the Host header's
check (400 as the router answers), the route's label for metrics and logs, and an unexpected error
answered 500 with the API's error body (logged), never a traceback.

Under ``tesserra serve`` a plain proxied HTTP request does not even take the ASGI app: the server
protocol (``protocol``) hands it to ``direct`` as its head arrives, and the response is written
straight onto the connection (``direct``), sparing uvicorn's per-message checks; and one with nothing
to wait for takes no task at all (``inline``). The rules above and the proxy's own are the same code
on every way in. WebSocket upgrades (and any upgrade), and a server
wrapped for metrics, access logs or tracing, take the ASGI way (``__call__``).

The mount stays registered (``app.py``), so a request that only the router's decoding sends to the
proxy (an encoded prefix) still reaches it, and answers the proxy's 404."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from litestar._asgi.utils import is_valid_host

from tesserra_core.errors import ValidationFailed
from tesserra_core.ports.tracing import Tracer
from tesserra_core.usecases.runtime_views import PROXY_PATH
from tesserra_http.context import incoming_request_id, request_id_var, request_scope_var
from tesserra_http.errors import send_error
from tesserra_http.proxy import ProxyEndpoint
from tesserra_http.proxy.direct import DirectSend
from tesserra_http.proxy.forward import Receive, Scope, Send
from tesserra_http.proxy.inline import InlineExchange
from tesserra_http.proxy.routing import PREFIX
from tesserra_http.proxy.websocket import INTERNAL_ERROR, deny

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

log = logging.getLogger("tesserra.proxy")

_KINDS = frozenset({"http", "websocket"})


def proxied(scope: Scope) -> bool:
    """Whether the request is the proxy's: its raw target starts with the proxy's prefix."""
    return scope["type"] in _KINDS and (scope.get("raw_path") or b"").startswith(PREFIX)


class ProxyEntry:
    def __init__(self, endpoint: ProxyEndpoint, tracer: Tracer, route_handler: Any) -> None:
        self.endpoint = endpoint
        self.tracer = tracer
        self.route_handler = route_handler
        """The mount's handler, which labels the request's route (``observed.route_template``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route_handler"] = self.route_handler
        scope["path_template"] = PROXY_PATH
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        request_id = incoming_request_id(scope)  # type: ignore[arg-type]
        own = (b"x-request-id", request_id.encode())
        started = False

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), own]
            await send(message)

        await self._http(scope, receive, send_with_id, request_id, lambda: started)

    def direct(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        """A plain HTTP request the server protocol hands over as it arrives (``protocol``), ``send``
        being its uvicorn cycle's: the response goes straight onto the connection (``direct``). Not a
        coroutine itself: it answers the one that handles the request (a frame less per request)."""
        cycle: RequestResponseCycle = send.__self__  # type: ignore[attr-defined]
        request_id = incoming_request_id(scope)  # type: ignore[arg-type]
        direct = self._on_connection(scope, cycle, request_id)
        return self._http(scope, receive, direct, request_id, lambda: cycle.response_started)

    def _on_connection(self, scope: Scope, cycle: RequestResponseCycle, request_id: str) -> DirectSend:
        """The request labelled as the proxy's route, and the writer of its response onto ``cycle``'s
        connection, which answers ``request_id`` with it."""
        scope["route_handler"] = self.route_handler
        scope["path_template"] = PROXY_PATH
        own = b"x-request-id: " + request_id.encode() + b"\r\n"
        return DirectSend(cycle, own, self.endpoint.http_pool().loop)

    def inline(self, cycle: RequestResponseCycle, again: Callable[[], None]) -> InlineExchange | None:
        """Takes a plain HTTP request the server protocol hands over as its head arrives, if nothing
        needs waiting for (``ProxyEndpoint.inline``): answered on callbacks (``inline``), no task; the
        protocol tells the exchange of its connection's events. None: not taken, and the protocol runs
        ``direct`` in a task; ``again`` does that later, for a request whose kept-alive connection to
        the sandbox closed under it."""
        scope: Scope = cycle.scope  # type: ignore[assignment]
        if not valid_host(scope):
            return None
        request_id = incoming_request_id(scope)  # type: ignore[arg-type]
        token = request_id_var.set(request_id)
        try:
            prepared = self.endpoint.inline(scope)
        except Exception:
            log.exception("unhandled error")  # the task's way answers it
            return None
        finally:
            request_id_var.reset(token)
        if prepared is None:
            return None
        target, conn, head = prepared
        send = self._on_connection(scope, cycle, request_id)
        pool = self.endpoint.http_pool()
        exchange = InlineExchange(cycle, send, pool, conn, target, self.endpoint.uc.runtime, request_id, again)
        exchange.start(head, head_only=scope["method"] == "HEAD")
        return exchange

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, started: Callable[[], bool]
    ) -> None:
        token = request_id_var.set(request_id)
        scope_token = request_scope_var.set(scope)  # type: ignore[arg-type]
        self.tracer.request_id(request_id)
        try:
            if not valid_host(scope):
                await send_error(send, 400, "Invalid host header", "validation_failed")  # type: ignore[arg-type]
                return
            await self.endpoint.http(scope, receive, send, started)
        except Exception:
            log.exception("unhandled error")
            if not started():
                await send_error(send, 500, "internal server error", "internal_error")  # type: ignore[arg-type]
        finally:
            request_id_var.reset(token)
            request_scope_var.reset(scope_token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request id as for HTTP: on its log lines, its span and a refusal's body, and answered
        on the handshake's response."""
        request_id = incoming_request_id(scope)  # type: ignore[arg-type]
        token = request_id_var.set(request_id)
        self.tracer.request_id(request_id)
        own = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] in ("websocket.accept", "websocket.http.response.start"):
                message["headers"] = [*message.get("headers", ()), own]
            await send(message)

        try:
            if not valid_host(scope):
                await deny(send_with_id, ValidationFailed("Invalid host header"))
                return
            await self.endpoint.websocket(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            with contextlib.suppress(Exception):  # already closed, or the client gone
                await send({"type": "websocket.close", "code": INTERNAL_ERROR})
        finally:
            request_id_var.reset(token)


def valid_host(scope: Scope) -> bool:
    """Whether the Host header (if any) is well formed, as Litestar's router checks it (400 otherwise)."""
    for name, value in scope["headers"]:
        if name == b"host":
            valid = _HOSTS.get(value)
            if valid is None:
                if len(_HOSTS) >= _MAX_HOSTS:
                    _HOSTS.clear()
                valid = _HOSTS[value] = bool(is_valid_host(value))
            return valid
    return True


_HOSTS: dict[bytes, bool] = {}
"""Host headers already checked: a client sends the same one on every request of a connection."""
_MAX_HOSTS = 1024
