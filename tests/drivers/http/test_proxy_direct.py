"""The proxy's responses written straight onto the connection (``tesserra_http.proxy.direct``), under
the real server protocol (``BoundedHttpToolsProtocol``) with a scripted proxy entry in place of the
sandbox proxy: framing by length or chunked, HEAD, 204 and 304 without a body, pipelined requests
answered in order, ``Connection: close`` honoured, a request body read while it streams, a client that
goes away mid-response, and requests the proxy does not take (another path, an upgrade) left to the
ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from tesserra_http.protocol import BoundedHttpToolsProtocol
from tesserra_http.proxy.direct import DirectSend
from tests.support import eventually, free_port

PREFIX = "/api/runtime/proxy/sb"


class ScriptedEntry:
    """Answers by the path's last segment, as the proxy would relay a sandbox's answer."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    async def direct(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        out = DirectSend(send.__self__, b"x-request-id: scripted\r\n", asyncio.get_running_loop())
        what = scope["raw_path"].rsplit(b"/", 1)[-1].decode()
        try:
            if what == "length":
                await out({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
                await out({"type": "http.response.body", "body": b"hello", "more_body": False})
            elif what == "chunks":
                await out({"type": "http.response.start", "status": 200, "headers": [(b"x-kind", b"chunks")]})
                for piece in (b"one", b"two"):
                    await out({"type": "http.response.body", "body": piece, "more_body": True})
                await out({"type": "http.response.body", "body": b"", "more_body": False})
            elif what in ("204", "304"):
                await out({"type": "http.response.start", "status": int(what), "headers": []})
                await out({"type": "http.response.body", "body": b"", "more_body": False})
            elif what == "upload":
                total = 0
                while True:
                    message = await receive()
                    total += len(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                body = str(total).encode()
                headers = [(b"content-length", str(len(body)).encode())]
                await out({"type": "http.response.start", "status": 200, "headers": headers})
                await out({"type": "http.response.body", "body": body, "more_body": False})
            elif what == "endless":
                await out({"type": "http.response.start", "status": 200, "headers": []})
                while not send.__self__.disconnected:
                    await out({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
                    await asyncio.sleep(0)
        finally:
            self.ended.append(what)


class App:
    def __init__(self) -> None:
        self.proxy = ScriptedEntry()
        self.asgi: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        self.asgi.append(scope["path"])
        await send({"type": "http.response.start", "status": 418, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, int]]:
    app, port = App(), free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        http=BoundedHttpToolsProtocol,
        lifespan="off",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), within=10)
    try:
        yield app, port
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server) -> bool | None:
    return server.started or None


async def exchange(port: int, raw: bytes, *, until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read() if until_close else reader.read(65536), 10)
    writer.close()
    return data


def get(what: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {PREFIX}/{what} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


async def test_framing_by_length_chunked_head_and_no_body_statuses(served: tuple[App, int]) -> None:
    _, port = served
    close = "Connection: close\r\n"
    by_length = await exchange(port, get("length", extra=close))
    head, _, body = by_length.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncontent-length: 5" in head
    assert b"\r\nx-request-id: scripted" in head
    assert b"\r\nconnection: close" in head
    assert b"transfer-encoding" not in head
    assert body == b"hello"
    chunked = await exchange(port, get("chunks", extra=close))
    head, _, body = chunked.partition(b"\r\n\r\n")
    assert b"\r\ntransfer-encoding: chunked" in head
    assert body == b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
    for status in ("204", "304"):
        answer = await exchange(port, get(status, extra=close))
        assert answer.startswith(f"HTTP/1.1 {status} ".encode())
        assert b"transfer-encoding" not in answer
        assert answer.endswith(b"\r\n\r\n")
    headed = await exchange(port, get("chunks", "HEAD", close))
    assert headed.startswith(b"HTTP/1.1 200 OK")
    assert headed.endswith(b"\r\n\r\n")
    assert b"transfer-encoding" not in headed


async def test_pipelined_requests_are_answered_in_order_on_one_connection(served: tuple[App, int]) -> None:
    app, port = served
    raw = get("length") + get("chunks") + get("204") + get("length", extra="Connection: close\r\n")
    answers = await exchange(port, raw)
    assert answers.count(b"HTTP/1.1 ") == 4
    assert answers.index(b"hello") < answers.index(b"3\r\none") < answers.index(b"HTTP/1.1 204")
    assert answers.endswith(b"hello")
    assert app.proxy.ended == ["length", "chunks", "204", "length"]


async def test_a_request_body_is_read_as_it_streams(served: tuple[App, int]) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get("upload", "POST", "Transfer-Encoding: chunked\r\nConnection: close\r\n"))
    for _ in range(8):
        writer.write(b"10000\r\n" + b"u" * 65536 + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"\r\n\r\n524288")


async def test_a_client_that_goes_away_mid_response_ends_it(served: tuple[App, int]) -> None:
    app, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get("endless"))
    assert (await reader.readexactly(200)).startswith(b"HTTP/1.1 200")
    writer.transport.abort()
    for _ in range(200):
        if "endless" in app.proxy.ended:
            break
        await asyncio.sleep(0.01)
    assert app.proxy.ended == ["endless"]
    assert (await exchange(port, get("length", extra="Connection: close\r\n"))).endswith(b"hello")


async def test_other_paths_and_upgrades_take_the_asgi_app(served: tuple[App, int]) -> None:
    app, port = served
    other = await exchange(port, b"GET /api/runtime/proxy-auth/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert other.startswith(b"HTTP/1.1 418")
    upgrade = "Connection: upgrade\r\nUpgrade: h2c\r\n"
    upgraded = await exchange(port, get("length", extra=upgrade + "Connection: close\r\n"))
    assert upgraded.startswith(b"HTTP/1.1 418")
    assert app.asgi == ["/api/runtime/proxy-auth/x", f"{PREFIX}/length"]
    assert app.proxy.ended == []
