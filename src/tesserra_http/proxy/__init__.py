"""ALL /api/runtime/proxy/{sandboxId}[:{port}]/{path}: the sandbox proxy, a raw ASGI app (mounted by
the app factory) so that bodies stream both ways and WebSocket upgrades relay frame by frame.

Every request names its sandbox in the path and proves access with, in this order: a proxy token in
``X-Tesserra-Proxy-Token``; a proxy token in the query (``tesserra_proxy_token``, once: answered 303
to the same URL without it, with an HttpOnly, SameSite=Strict cookie scoped to that sandbox's proxy
path; a WebSocket upgrade just uses it); the cookie; or the caller's own credentials (Bearer JWT or API
key with tools:write). ``uc.runtime.open`` checks it against the stored sandbox and names the upstream.
Failures are the API's JSON error bodies (401, 403, 404, 409, 502), never a redirect to a login page.

When the sandbox's workload runs on a node on another machine (``ProxyTarget.node_id``), the request,
checked here all the same, goes to that node as received (its whole proxy path and query, the
caller's credential: ``headers.to_node``), over the same connections and relay as a sandbox's, marked
as a hop; that node checks it again and proxies it to the workload, and never forwards it further.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, cast

from litestar.types import Send as LitestarSend

from tesserra_core.domain.identity import Principal
from tesserra_core.errors import TesserraError, Unauthenticated
from tesserra_core.facade import UseCases
from tesserra_core.ports.tracing import Tracer
from tesserra_core.usecases.runtime_views import NODE_HOP_HEADER, TOKEN_COOKIE, TOKEN_HEADER, ProxyTarget
from tesserra_http.client_address import ClientAddress
from tesserra_http.context import request_id_var
from tesserra_http.errors import send_core_error
from tesserra_http.proxy.connection import Connection, request_head
from tesserra_http.proxy.forward import forward, has_body
from tesserra_http.proxy.headers import ADDED_TO_CLIENT, to_node, to_sandbox
from tesserra_http.proxy.routing import Route, route

if TYPE_CHECKING:
    import aiohttp

    from tesserra_http.proxy.forward import Receive, Scope, Send
    from tesserra_http.proxy.upstream import UpstreamPool

_TOKEN_HEADER = TOKEN_HEADER.lower().encode()
_HOP_HEADER = NODE_HOP_HEADER.lower().encode()
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-tesserra-api-key", b"x-api-key"})


def _cookie_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"cookie":
            try:
                jar: SimpleCookie = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                continue
            if TOKEN_COOKIE in jar:
                return jar[TOKEN_COOKIE].value
    return None


def _token(headers: list[tuple[bytes, bytes]], where: Route) -> tuple[str | None, bool]:
    """The proxy token the request carries, and whether it came in the query (``once``): the header's,
    else the query's, else the cookie's."""
    for name, value in headers:
        if name == _TOKEN_HEADER:
            return value.decode("latin-1"), False
    if where.token is not None:
        return where.token, True
    return _cookie_token(headers), False


def _carrying_trace(headers: list[tuple[bytes, bytes]], tracer: Tracer) -> list[tuple[bytes, bytes]]:
    """With tracing on, the sandbox gets this request's span as its caller (W3C ``traceparent``, in
    place of any the client sent: the proxy's span is the client's span's child already)."""
    carried: dict[str, str] = {}
    tracer.inject(carried)
    if not carried:
        return headers
    kept = [(name, value) for name, value in headers if name.lower() not in _TRACE_CONTEXT]
    return kept + [(name.encode("latin-1"), value.encode("latin-1")) for name, value in carried.items()]


_TRACE_CONTEXT = frozenset({b"traceparent", b"tracestate"})


class ProxyEndpoint:
    def __init__(self, uc: UseCases, client_address: ClientAddress) -> None:
        self.uc = uc
        self.client_address = client_address
        self._session: aiohttp.ClientSession | None = None
        self._pool: UpstreamPool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """The upstream clients, made on the first proxied request, are closed with the app."""
        try:
            yield
        finally:
            session, self._session = self._session, None
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.close()
            if session is not None:
                await session.close()

    def http_pool(self) -> UpstreamPool:
        """The keep-alive connections to sandboxes, for plain HTTP (``upstream``), and the loop they
        serve."""
        if self._pool is None:
            from tesserra_http.proxy.upstream import UpstreamPool

            self._pool = UpstreamPool()
        return self._pool

    def _websockets(self) -> aiohttp.ClientSession:
        """The client of WebSocket upgrades (aiohttp, not imported by a server that relays none); no
        cookie jar: nothing a sandbox sets is kept."""
        if self._session is None:
            import aiohttp

            # No cap: each upstream connection stands for one client connection (a cap of 256 per
            # sandbox left the 257th WebSocket waiting for its handshake until it timed out).
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The mount's (``app``): a request that only the router's decoding sends here, of either kind."""
        if scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
            return
        recorded = _Recorded(send, "http.response.start")
        await self.http(scope, receive, recorded, lambda: recorded.seen)

    async def http(self, scope: Scope, receive: Receive, send: Send, started: Callable[[], bool]) -> None:
        """One proxied HTTP request; ``started`` tells whether its response has begun (``send`` is
        the entry's: an ASGI server's, or the connection's own, ``direct``)."""
        try:
            where = route(scope["raw_path"], scope.get("query_string", b""))
            target, exchanged = await self._open(scope, where)
        except TesserraError as exc:
            await send_core_error(cast(LitestarSend, send), exc)
            return
        self.uc.ports.tracer.annotate("tesserra.sandbox_id", target.sandbox_id)
        if exchanged:
            await _exchange_for_cookie(scope, where, target, send)
            return
        request_target, headers = self._outgoing(scope, where, target, websocket=False)
        pool = self.http_pool()
        cutter = _Cutter(asyncio.current_task(pool.loop))
        work = forward(
            pool, target, scope["method"], request_target, headers, has_body(scope["headers"]), receive, send
        )
        try:
            with self.uc.runtime.activity.during(target), self.uc.runtime.watch.watching(target, cutter):
                await cutter.run(work)
        except TesserraError as exc:
            await send_core_error(cast(LitestarSend, send), exc)
            return
        if cutter.cutting and not started():
            await send_core_error(cast(LitestarSend, send), revoked())
        # cut mid-response: the server closes the connection, the body unfinished

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        from tesserra_http.proxy.websocket import POLICY_VIOLATION, deny, relay

        try:
            where = route(scope["raw_path"], scope.get("query_string", b""))
            target, _ = await self._open(scope, where)
        except TesserraError as exc:
            await deny(send, exc)
            return
        self.uc.ports.tracer.annotate("tesserra.sandbox_id", target.sandbox_id)
        request_target, headers = self._outgoing(scope, where, target, websocket=True)
        accepted = _Recorded(send, "websocket.accept")
        cutter = _Cutter(asyncio.current_task())
        with self.uc.runtime.activity.during(target), self.uc.runtime.watch.watching(target, cutter):
            await cutter.run(relay(self._websockets(), target, request_target, headers, scope, receive, accepted))
        if cutter.cutting and accepted.seen:
            with contextlib.suppress(Exception):  # the client may have gone at the same moment
                await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "revoked"})

    def _outgoing(
        self, scope: Scope, where: Route, target: ProxyTarget, *, websocket: bool
    ) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The request target and headers toward the sandbox, or toward the node that runs it: there,
        the proxy path as received (the query's token, exchanged here already, moves to the header)."""
        client = self.client_address(scope)  # type: ignore[arg-type]
        scheme = scope.get("scheme", "http")
        if target.node_id is None:
            headers = to_sandbox(scope["headers"], target, client=client, scheme=scheme, websocket=websocket)
            return where.target, _carrying_trace(headers, self.uc.ports.tracer)
        headers = to_node(
            scope["headers"],
            client=client,
            scheme=scheme,
            node_id=self.uc.ports.node_id,
            request_id=request_id_var.get() or "",
            token=where.token,
            websocket=websocket,
        )
        raw = scope["raw_path"].decode("latin-1")
        return raw + ("?" + where.query.decode("latin-1") if where.query else ""), _carrying_trace(
            headers, self.uc.ports.tracer
        )

    async def _open(self, scope: Scope, where: Route) -> tuple[ProxyTarget, bool]:
        """Where to forward, and whether the query's token was the credential (exchanged once)."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        token, once = _token(headers, where)
        actor: Principal | None = None
        if token is None and any(name in _CREDENTIAL_HEADERS for name, _ in headers):
            actor = await self.uc.authenticate.from_headers(headers)
        hop = any(name == _HOP_HEADER for name, _ in headers)
        target = await self.uc.runtime.open(where.sandbox_id, where.port, token=token, actor=actor, once=once, hop=hop)
        return target, once

    def inline(self, scope: Scope) -> tuple[ProxyTarget, Connection, bytes] | None:
        """For a plain request with nothing to wait for (``inline``): no body, a token in a header or
        cookie that this worker checked against the read of the sandbox it still holds
        (``OpenProxy.held``), a sandbox on this node with a kept-alive connection idle: its target,
        that connection (taken) and the request's head. None: it takes the task's way (``http``),
        which answers what this could not decide."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if has_body(headers):
            return None
        try:
            where = route(scope["raw_path"], scope.get("query_string", b""))
            token, once = _token(headers, where)
            if token is None or once:
                return None
            target = self.uc.runtime.open.held(where.sandbox_id, where.port, token)
        except TesserraError:
            return None
        if target is None or target.node_id is not None:  # (a hop's request is never forwarded again)
            return None
        request_target, outgoing = self._outgoing(scope, where, target, websocket=False)
        try:
            head = request_head(scope["method"], request_target, target.host, target.host_port, outgoing)
        except ValueError:
            return None
        conn = self.http_pool().idle(target.host, target.host_port)
        return None if conn is None else (target, conn, head)


def revoked() -> TesserraError:
    """401 ``proxy_token_revoked``: a request let in was cut before its response began."""
    return Unauthenticated("the proxy token was revoked or the sandbox stopped", code="proxy_token_revoked")


class _Recorded:
    """An ASGI ``send`` that remembers whether a message of ``kind`` went out."""

    def __init__(self, send: Send, kind: str) -> None:
        self.send = send
        self.kind = kind
        self.seen = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == self.kind:
            self.seen = True
        await self.send(message)


class _Cutter:
    """Ends the exchange running in this task when the watch calls it (its token revoked, its sandbox
    stopped): the task is cancelled where it waits, its upstream connection closed on the way out.
    No task of its own: the cut cancels this one, the way ``asyncio.timeout`` does."""

    __slots__ = ("cutting", "live", "task")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        assert task is not None
        self.task = task
        self.live = True
        self.cutting = False

    def __call__(self) -> None:
        if self.live and not self.cutting:  # never cancel what comes after the block
            self.cutting = True
            self.task.cancel()

    async def run(self, work: Coroutine[Any, Any, None]) -> None:
        """``work`` to its end (its exception raised), or until cut (``cutting``; returns)."""
        try:
            await work
        except asyncio.CancelledError:
            if self.cutting and self.task.uncancel() == 0:  # the cut's, and nobody else's
                return
            raise
        finally:
            self.live = False


async def _exchange_for_cookie(scope: Scope, where: Route, target: ProxyTarget, send: Send) -> None:
    """303 to the same URL without the token, which now travels in a cookie only that proxy path gets."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    cookie = f"{TOKEN_COOKIE}={where.token}; Path={target.prefix}/; HttpOnly; SameSite=Strict{secure}"
    location = f"{target.prefix}{where.target}"
    headers = [
        (b"location", location.encode("latin-1")),
        (b"set-cookie", cookie.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
        *ADDED_TO_CLIENT,
    ]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
