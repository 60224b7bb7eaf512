"""A WebSocket upgrade through the proxy: the upstream connection is opened first (its subprotocol is
the one accepted), then frames are relayed both ways as they come, each send awaited (back-pressure),
and a close on either side is passed on with its code. Refusals before the upgrade are the API's
JSON error bodies when the server can send an HTTP response to a WebSocket request, else a close."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import msgspec

from tesserra_core.errors import TesserraError, UpstreamFailed, error_body
from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_http.context import request_id_var
from tesserra_http.proxy.forward import Receive, Scope, Send, upstream_url

if TYPE_CHECKING:  # imported when a WebSocket is relayed: a server that relays none never loads aiohttp
    import aiohttp

log = logging.getLogger("tesserra.proxy")

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
MAX_MESSAGE = 16 * 1024 * 1024
_NO_CODE = {1005, 1006, 1015}
"""Codes that describe a close but may not be sent in one."""


async def deny(send: Send, exc: TesserraError) -> None:
    body = msgspec.json.encode(error_body(exc.message, exc.code, request_id_var.get()))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    try:
        await send({"type": "websocket.http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    except RuntimeError:  # a server without the ASGI extension: a close is all it can say
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})


def _subprotocols(scope: Scope) -> list[str]:
    return [str(p) for p in scope.get("subprotocols") or ()]


async def relay(
    session: aiohttp.ClientSession,
    target: ProxyTarget,
    request_target: str,
    headers: list[tuple[bytes, bytes]],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    import aiohttp

    first = await receive()
    if first["type"] != "websocket.connect":
        return
    kept = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers if n != b"sec-websocket-protocol"]
    try:
        upstream = await session.ws_connect(
            upstream_url(target, request_target),
            headers=kept,
            protocols=_subprotocols(scope),
            autoclose=False,
            autoping=True,
            max_msg_size=MAX_MESSAGE,
        )
    except (aiohttp.ClientError, OSError) as exc:
        log.info("WebSocket to sandbox %s refused: %r", target.sandbox_id, exc)
        await deny(send, UpstreamFailed("the sandbox did not accept the WebSocket", code="sandbox_unreachable"))
        return
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.protocol})
        down = asyncio.create_task(_downstream(upstream, send))
        up = asyncio.create_task(_upstream(upstream, receive))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (down, up):
                task.cancel()
            for task in (down, up):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _upstream(upstream: aiohttp.ClientWebSocketResponse, receive: Receive) -> None:
    """Client frames to the sandbox; the client's close (with its code) closes the upstream side."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            code = int(message.get("code", 1000))
            await upstream.close(code=1000 if code in _NO_CODE else code)
            return
        if message.get("text") is not None:
            await upstream.send_str(message["text"])
        elif message.get("bytes") is not None:
            await upstream.send_bytes(message["bytes"])


async def _downstream(upstream: aiohttp.ClientWebSocketResponse, send: Send) -> None:
    """Sandbox frames to the client; the sandbox's close (with its code) closes the client side."""
    import aiohttp

    while True:
        message = await upstream.receive()
        if message.type is aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": message.data})
        elif message.type is aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": message.data})
        elif message.type is aiohttp.WSMsgType.CLOSE:
            code = int(message.data or 1000)
            await upstream.close(code=code)
            await send({"type": "websocket.close", "code": 1000 if code in _NO_CODE else code})
            return
        else:  # closed or failed
            await send({"type": "websocket.close", "code": INTERNAL_ERROR})
            return
