"""One proxied HTTP exchange, streamed both ways: the request body goes up as the client sends it
(``receive`` is awaited only as the upstream connection takes more), the response body comes down as
the sandbox sends it (each piece handed to ``send``, which waits while the client reads slowly). No
body is ever held whole. A client that goes away ends the exchange (and the upstream request)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tesserra_core.domain.addresses import authority
from tesserra_core.errors import UpstreamFailed, ValidationFailed
from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_http.proxy.connection import request_head
from tesserra_http.proxy.headers import Headers, to_client
from tesserra_http.proxy.upstream import UpstreamPool

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Plain ASGI (the proxy sends and receives messages of both protocols)."""


def upstream_url(target: ProxyTarget, request_target: str, scheme: str = "http") -> str:
    """Always the sandbox's address from stored state; the request gives only the origin-form target."""
    return f"{scheme}://{authority(target.host, target.host_port)}{request_target}"


def unreachable(target: ProxyTarget) -> UpstreamFailed:
    """502 ``sandbox_unreachable``: the sandbox (or the node that runs it) did not answer."""
    who = "the sandbox" if target.node_id is None else f"node {target.node_id}, which runs the sandbox,"
    return UpstreamFailed(f"{who} did not answer", code="sandbox_unreachable")


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the client sends a body (a non-zero Content-Length, or any Transfer-Encoding)."""
    for name, value in headers:
        low = name.lower()
        if low == b"transfer-encoding" or (low == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


async def _body(receive: Receive, chunked: bool, done: asyncio.Event) -> AsyncIterator[list[bytes]]:
    """The client's body as it comes, framed for the sandbox: as is under a Content-Length, else chunked."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("the client went away")
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield [b"%x\r\n" % len(chunk), chunk, b"\r\n"] if chunked else [chunk]
            if not message.get("more_body", False):
                if chunked:
                    yield [b"0\r\n\r\n"]
                return
    finally:
        done.set()


async def _until_disconnect(receive: Receive, body_done: asyncio.Event | None) -> None:
    if body_done is not None:  # the body's own reads come first
        await body_done.wait()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _outgoing(
    target: ProxyTarget, method: str, request_target: str, headers: Headers, with_body: bool, receive: Receive
) -> tuple[bytes, AsyncIterator[list[bytes]] | None, asyncio.Event | None]:
    """The request's head for the sandbox, and its body's pieces (with the event set once read) if any."""
    body_done: asyncio.Event | None = None
    body = None
    if with_body:
        body_done = asyncio.Event()
        chunked = not any(name == b"content-length" for name, _ in headers)
        if chunked:
            headers = [*headers, (b"transfer-encoding", b"chunked")]
        body = _body(receive, chunked, body_done)
    host_header = None
    if target.node_id is not None and headers and headers[0][0] == b"host":  # ``headers.to_node``'s first
        host_header, headers = headers[0][1], headers[1:]
    try:
        head = request_head(method, request_target, target.host, target.host_port, headers, host_header=host_header)
    except ValueError as exc:
        raise ValidationFailed("the request cannot be forwarded as it is") from exc
    return head, body, body_done


class _ClientWatch:
    """Watches, once called (``WATCH_AFTER`` into the exchange), for the client's going away (or its
    side failing): the exchange, running in ``task``, then ends with it."""

    __slots__ = ("body_done", "gone", "receive", "task", "watcher", "watching")

    def __init__(self, task: asyncio.Task[Any], receive: Receive, body_done: asyncio.Event | None) -> None:
        self.task = task
        self.receive = receive
        self.body_done = body_done
        self.watching = True
        self.gone = False
        self.watcher: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        if self.watching:
            self.watcher = self.task.get_loop().create_task(_until_disconnect(self.receive, self.body_done))
            self.watcher.add_done_callback(self._client_gone)

    def _client_gone(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        task.exception()  # retrieved: a failure of the client's side ends the exchange like a disconnect
        if self.watching:
            self.gone = True
            self.task.cancel()

    def stop(self) -> None:
        self.watching = False
        if self.watcher is not None:
            self.watcher.cancel()


async def forward(
    pool: UpstreamPool,
    target: ProxyTarget,
    method: str,
    request_target: str,
    headers: Headers,
    with_body: bool,
    receive: Receive,
    send: Send,
) -> None:
    """Raises ``UpstreamFailed`` (502 ``sandbox_unreachable``) when the sandbox cannot be reached before
    any of its response was sent; later failures just end the response early. ``headers`` are the ones
    for the sandbox (``headers.to_sandbox``). One coroutine from the request to the response's end
    (no await chain below it but the pool's)."""
    head, body, body_done = _outgoing(target, method, request_target, headers, with_body, receive)
    me = asyncio.current_task(pool.loop)
    assert me is not None
    watch = _ClientWatch(me, receive, body_done)
    pool.later.add(watch)
    conn = sender = None
    whole = False
    try:
        try:
            conn, sender = await pool.request(target.host, target.host_port, head, body, head_only=method == "HEAD")
        except (OSError, TimeoutError) as exc:
            raise unreachable(target) from exc
        await send(
            {
                "type": "http.response.start",
                "status": conn.status,
                "headers": to_client(conn.headers, hop=target.node_id is not None),
            }
        )
        while True:
            try:
                piece = await conn.piece()
            except OSError:
                return  # the sandbox broke off: the client sees the response end early (connection closed)
            if piece is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                break
            last = conn.drained
            await send({"type": "http.response.body", "body": piece, "more_body": not last})
            if last:
                break
        whole = True
    except asyncio.CancelledError:
        if watch.gone and me.uncancel() == 0:  # the client's going, and nobody else's cancel
            return
        raise
    finally:
        if conn is not None:
            pool.done(conn, sender, whole=whole)
        pool.later.discard(watch)
        watch.stop()
