"""One proxied HTTP exchange, streamed both ways: the request body goes up as the client sends it
(``receive`` is awaited only as the upstream connection takes more), the response body comes down as
the sandbox sends it (each piece handed to ``send``, which waits while the client reads slowly). No
body is ever held whole. A client that goes away ends the exchange (and the upstream request)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from tesserra_core.errors import UpstreamFailed
from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_http.proxy.headers import to_client

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Plain ASGI (the proxy sends and receives messages of both protocols)."""

SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})


def upstream_url(target: ProxyTarget, request_target: str, scheme: str = "http") -> URL:
    """Always the sandbox's loopback port from stored state; the request gives only the origin-form target."""
    return URL(f"{scheme}://{target.host}:{target.host_port}{request_target}", encoded=True)


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the client sends a body (a non-zero Content-Length, or any Transfer-Encoding)."""
    for name, value in headers:
        low = name.lower()
        if low == b"transfer-encoding" or (low == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


async def _body(receive: Receive, done: asyncio.Event) -> AsyncIterator[bytes]:
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("the client went away")
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
    finally:
        done.set()


async def _until_disconnect(receive: Receive, body_done: asyncio.Event) -> None:
    await body_done.wait()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def forward(
    session: aiohttp.ClientSession,
    target: ProxyTarget,
    method: str,
    request_target: str,
    headers: list[tuple[str, str]],
    with_body: bool,
    receive: Receive,
    send: Send,
) -> None:
    """Raises ``UpstreamFailed`` (502 ``sandbox_unreachable``) when the sandbox cannot be reached before
    any of its response was sent; later failures just end the response early."""
    body_done = asyncio.Event()
    body = _body(receive, body_done) if with_body else None
    if body is None:
        body_done.set()
    me = asyncio.current_task()
    assert me is not None
    watching, gone = True, False

    def client_gone(watcher: asyncio.Task[None]) -> None:
        """The client went away (or its side failed): the exchange, running in this task, ends with it."""
        nonlocal gone
        if watcher.cancelled():
            return
        watcher.exception()  # retrieved: a failure of the client's side ends the exchange like a disconnect
        if watching:
            gone = True
            me.cancel()

    watcher = asyncio.create_task(_until_disconnect(receive, body_done))
    watcher.add_done_callback(client_gone)
    try:
        await _exchange(session, target, method, request_target, headers, body, send)
    except asyncio.CancelledError:
        if gone and me.uncancel() == 0:  # the client's going, and nobody else's cancel
            return
        raise
    finally:
        watching = False
        watcher.cancel()


async def _exchange(
    session: aiohttp.ClientSession,
    target: ProxyTarget,
    method: str,
    request_target: str,
    headers: list[tuple[str, str]],
    body: AsyncIterator[bytes] | None,
    send: Send,
) -> None:
    try:
        response = await session.request(
            method,
            upstream_url(target, request_target),
            headers=headers,
            data=body,
            allow_redirects=False,
            skip_auto_headers=SKIP_AUTO,
        )
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamFailed("the sandbox did not answer", code="sandbox_unreachable") from exc
    async with response:
        await send(
            {"type": "http.response.start", "status": response.status, "headers": to_client(response.raw_headers)}
        )
        try:
            async for piece in response.content.iter_any():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        except (aiohttp.ClientError, OSError):
            return  # the sandbox broke off: the client sees the response end early (connection closed)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
