"""The proxy's HTTP/1.1 client (``tesserra_http.proxy.upstream``, ``connection``) and one exchange through it
(``forward``), against scripted sandboxes on real loopback sockets: what the sandbox receives, chunked
and length-less responses, bodies streamed both ways, keep-alive reuse and a sandbox that closes it,
a sandbox that dies before or during its answer, answers that are not HTTP, and back-pressure both
ways (a slow reader, a sandbox that does not read)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tesserra_core.errors import UpstreamFailed, ValidationFailed
from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_http.proxy.connection import HIGH_WATER, request_head
from tesserra_http.proxy.forward import forward, upstream_url
from tesserra_http.proxy.upstream import UpstreamPool
from tests import support

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Sandbox"], Awaitable[None]]
MIB = 1 << 20


class Sandbox:
    """A TCP server that runs ``handler`` on each connection, counting connections."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.connections = 0
        self.heads: list[bytes] = []
        self.written = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Sandbox:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def target(self) -> ProxyTarget:
        return ProxyTarget(
            sandbox_id="sb1",
            tenant_id="t1",
            port=8000,
            host=self.host,
            host_port=self.port,
            prefix="/api/runtime/proxy/sb1",
            idle_timeout_seconds=None,
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def head(self, reader: asyncio.StreamReader) -> dict[bytes, bytes] | None:
        """The next request's head (None at the end of the connection), noted in ``heads``."""
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        self.heads.append(raw)
        lines = raw.split(b"\r\n")[1:-2]
        return {name.lower(): value for name, _, value in (line.partition(b": ") for line in lines)}


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += (await reader.readexactly(size + 2))[:-2]


def answer(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), b"".join(extra), body)


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
    """Answers each request with its body (by length or chunked), keep-alive."""
    while (head := await sandbox.head(reader)) is not None:
        if b"content-length" in head:
            body = await reader.readexactly(int(head[b"content-length"]))
        elif head.get(b"transfer-encoding") == b"chunked":
            body = await read_chunked(reader)
        else:
            body = b"no body"
        writer.write(answer(body, b"x-sandbox: yes\r\nset-cookie: a=b\r\n"))
        await writer.drain()


class Client:
    """The ASGI side of one exchange: the request body to give, what was sent back."""

    def __init__(self, body: list[bytes] | None = None, *, gate: asyncio.Event | None = None) -> None:
        self.body = list(body or [])
        self.gate = gate
        self.sent: list[dict[str, Any]] = []
        self.taken = 0
        self.slow: float = 0.0

    async def receive(self) -> dict[str, Any]:
        if self.body:
            piece = self.body.pop(0)
            self.taken += 1
            if self.gate is not None and self.taken == 2:
                await self.gate.wait()
            return {"type": "http.request", "body": piece, "more_body": bool(self.body)}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if self.slow:
            await asyncio.sleep(self.slow)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def content(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])

    @property
    def ended(self) -> bool:
        return len(self.sent) > 1 and not self.sent[-1].get("more_body", False)


@pytest.fixture
async def pool() -> AsyncIterator[UpstreamPool]:
    opened = UpstreamPool()
    yield opened
    opened.close()


async def through(
    pool: UpstreamPool, target: ProxyTarget, method: str, headers: list[tuple[bytes, bytes]], body: bool, client: Client
) -> None:
    """One exchange, bounded in time (a test fails, never hangs)."""
    await asyncio.wait_for(forward(pool, target, method, "/", headers, body, client.receive, client.send), 10)


async def get(pool: UpstreamPool, sandbox: Sandbox, path: str = "/", *, method: str = "GET") -> Client:
    client = Client()
    headers = [(b"accept", b"*/*")]
    await asyncio.wait_for(
        forward(pool, sandbox.target(), method, path, headers, False, client.receive, client.send), 10
    )
    return client


async def test_keep_alive_reuses_one_connection_and_the_sandbox_gets_the_head_as_built(pool: UpstreamPool) -> None:
    async with Sandbox(echo_handler) as sandbox:
        first = await get(pool, sandbox, "/a?b=c")
        second = await get(pool, sandbox, "/d")
        assert (first.status, first.content, first.ended) == (200, b"no body", True)
        assert second.content == b"no body"
        assert sandbox.connections == 1
        assert sandbox.heads[0] == b"GET /a?b=c HTTP/1.1\r\nhost: 127.0.0.1:%d\r\naccept: */*\r\n\r\n" % sandbox.port
        # toward the client, the proxy's own rules still apply (no cookie; its CSP)
        assert b"set-cookie" not in first.headers
        assert first.headers[b"x-sandbox"] == b"yes"
        assert first.headers[b"content-security-policy"].startswith(b"sandbox ")


async def test_a_sandbox_on_an_ipv6_address_is_reached_and_named_in_brackets(pool: UpstreamPool) -> None:
    """Its Host header is ``[::1]:port`` (``::1:port`` names no host), and a WebSocket's URL too."""
    support.require_ipv6_loopback()
    async with Sandbox(echo_handler, "::1") as sandbox:
        got = await get(pool, sandbox, "/six")
        assert (got.status, got.content) == (200, b"no body")
        assert sandbox.heads[0] == b"GET /six HTTP/1.1\r\nhost: [::1]:%d\r\naccept: */*\r\n\r\n" % sandbox.port
        assert upstream_url(sandbox.target(), "/ws?a=1") == f"http://[::1]:{sandbox.port}/ws?a=1"


async def test_a_chunked_answer_comes_through_in_pieces_and_the_connection_is_kept(pool: UpstreamPool) -> None:
    release = asyncio.Event()

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        while await sandbox.head(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()

    async with Sandbox(chunked) as sandbox:
        client = Client()
        exchange = asyncio.create_task(
            forward(pool, sandbox.target(), "GET", "/", [], False, client.receive, client.send)
        )
        for _ in range(200):  # the first piece arrives before the sandbox sends the second
            if client.content == b"first":
                break
            await asyncio.sleep(0.01)
        assert client.content == b"first"
        assert not client.ended
        assert b"transfer-encoding" not in client.headers  # hop-by-hop: the server frames its own answer
        release.set()
        await asyncio.wait_for(exchange, 5)
        assert client.content == b"firstsecond"
        assert client.ended
        again = await get(pool, sandbox)
        assert again.content == b"firstsecond"
        assert sandbox.connections == 1


async def test_an_answer_without_length_ends_with_the_connection_which_is_not_kept(pool: UpstreamPool) -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        await writer.drain()

    async with Sandbox(until_close) as sandbox:
        assert (await get(pool, sandbox)).content == b"all of it"
        assert (await get(pool, sandbox)).content == b"all of it"
        assert sandbox.connections == 2


async def test_informational_answers_are_dropped_and_head_and_204_have_no_body(pool: UpstreamPool) -> None:
    async def various(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        while (head := await sandbox.head(reader)) is not None:
            method = sandbox.heads[-1].split(b" ")[0]
            if method == b"HEAD":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
            elif head.get(b"x-want") == b"204":
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + answer(b"final"))
            await writer.drain()

    async with Sandbox(various) as sandbox:
        hinted = await get(pool, sandbox)
        assert (hinted.status, hinted.content) == (200, b"final")
        assert b"link" not in hinted.headers
        head = await get(pool, sandbox, method="HEAD")
        assert (head.status, head.content, head.ended) == (200, b"", True)
        assert head.headers[b"content-length"] == b"100"
        client = Client()
        await through(pool, sandbox.target(), "GET", [(b"x-want", b"204")], False, client)
        assert (client.status, client.content, client.ended) == (204, b"", True)


async def test_bodies_stream_up_by_length_or_chunked_and_the_sandbox_gets_them_whole(pool: UpstreamPool) -> None:
    async with Sandbox(echo_handler) as sandbox:
        pieces = [b"a" * 70_000, b"b" * 5, b"c" * 1000]
        by_length = Client(list(pieces))
        headers = [(b"content-length", str(sum(map(len, pieces))).encode())]
        await through(pool, sandbox.target(), "POST", headers, True, by_length)
        assert by_length.content == b"".join(pieces)
        chunked = Client(list(pieces))
        await through(pool, sandbox.target(), "POST", [], True, chunked)
        assert chunked.content == b"".join(pieces)
        assert b"transfer-encoding: chunked\r\n" in sandbox.heads[-1]
        assert sandbox.connections == 1


async def test_the_body_goes_up_as_the_client_sends_it(pool: UpstreamPool) -> None:
    """The sandbox has the first piece while the client still holds the second."""
    first_seen = asyncio.Event()

    async def reads_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)
        first = await reader.readexactly(5)
        assert first == b"first"
        first_seen.set()
        rest = await reader.readexactly(6)
        writer.write(answer(first + rest))
        await writer.drain()

    async with Sandbox(reads_first) as sandbox:
        gate = asyncio.Event()
        client = Client([b"first", b"second"], gate=gate)
        headers = [(b"content-length", b"11")]
        exchange = asyncio.create_task(
            forward(pool, sandbox.target(), "POST", "/", headers, True, client.receive, client.send)
        )
        await asyncio.wait_for(first_seen.wait(), 5)
        assert not exchange.done()
        gate.set()
        await asyncio.wait_for(exchange, 5)
        assert client.content == b"firstsecond"


async def test_a_sandbox_that_closes_its_keep_alive_connection_is_reached_anew(pool: UpstreamPool) -> None:
    """Closed after an answer (the pool sees it and drops the connection), or closed as the next request
    arrives, unanswered (a request without a body is sent once more on a new connection)."""
    served = 0

    async def once_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        nonlocal served
        await sandbox.head(reader)
        served += 1
        writer.write(answer(b"%d" % served))
        await writer.drain()
        if served == 2:
            await sandbox.head(reader)  # the next request on this connection: closed without an answer
        # else: closed right after the answer

    async with Sandbox(once_each) as sandbox:
        assert (await get(pool, sandbox)).content == b"1"
        await asyncio.sleep(0.1)  # the close arrives while the connection is idle
        assert (await get(pool, sandbox)).content == b"2"
        assert (await get(pool, sandbox)).content == b"3"
        assert sandbox.connections == 3


async def test_connection_close_from_the_sandbox_is_honoured(pool: UpstreamPool) -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        while await sandbox.head(reader) is not None:
            writer.write(answer(b"bye", b"connection: close\r\n"))
            await writer.drain()
            await asyncio.sleep(1)  # keeps it open: the client must not reuse it anyway

    async with Sandbox(closing) as sandbox:
        assert (await get(pool, sandbox)).content == b"bye"
        assert (await get(pool, sandbox)).content == b"bye"
        assert sandbox.connections == 2


async def test_a_sandbox_that_dies_before_answering_is_a_502(pool: UpstreamPool) -> None:
    async def dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    for handler in (dies, garbage):
        async with Sandbox(handler) as sandbox:
            with pytest.raises(UpstreamFailed) as failed:
                await get(pool, sandbox)
            assert failed.value.code == "sandbox_unreachable"
    closed = Sandbox(dies)
    async with closed:
        target = closed.target()
    client = Client()
    with pytest.raises(UpstreamFailed):  # nothing listens any more
        await through(pool, target, "GET", [], False, client)


async def test_a_sandbox_that_dies_mid_answer_ends_the_response_early(pool: UpstreamPool) -> None:
    async def dies_midway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly this")
        await writer.drain()

    async with Sandbox(dies_midway) as sandbox:
        client = await get(pool, sandbox)
        assert client.status == 200
        assert client.content == b"only this"
        assert not client.ended  # the server closes the client's connection: the answer is visibly cut
        again = await get(pool, sandbox)  # and the broken connection was not kept
        assert again.content == b"only this"
        assert sandbox.connections == 2


async def test_bytes_a_sandbox_sends_unasked_drop_its_connection(pool: UpstreamPool) -> None:
    async def extra(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        while await sandbox.head(reader) is not None:
            writer.write(answer(b"ok") + answer(b"smuggled"))
            await writer.drain()

    async with Sandbox(extra) as sandbox:
        assert (await get(pool, sandbox)).content == b"ok"
        assert (await get(pool, sandbox)).content == b"ok"  # never "smuggled"
        assert sandbox.connections == 2


async def test_a_slow_reader_holds_the_sandbox_back(pool: UpstreamPool) -> None:
    """The sandbox writes 512 MiB as fast as it may; the client takes a piece every 50 ms: what the
    sandbox managed to write stays within the proxy's buffer plus the sockets' own."""

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (512 * MIB))
        block = b"x" * (64 * 1024)
        for _ in range(512 * 16):
            writer.write(block)
            await writer.drain()
            sandbox.written += len(block)

    async with Sandbox(firehose) as sandbox:
        client = Client()
        client.slow = 0.05
        exchange = asyncio.create_task(
            forward(pool, sandbox.target(), "GET", "/", [], False, client.receive, client.send)
        )
        await asyncio.sleep(1.5)
        assert not exchange.done()
        received = len(client.content)
        assert sandbox.written - received < HIGH_WATER + 24 * MIB, (sandbox.written, received)
        assert sandbox.written < 64 * MIB
        exchange.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await exchange


async def test_a_sandbox_that_does_not_read_holds_the_upload_back(pool: UpstreamPool) -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sandbox: Sandbox) -> None:
        await sandbox.head(reader)
        await asyncio.sleep(5)

    async with Sandbox(deaf) as sandbox:
        pieces = [b"u" * MIB] * 256
        client = Client(list(pieces))
        headers = [(b"content-length", str(256 * MIB).encode())]
        exchange = asyncio.create_task(
            forward(pool, sandbox.target(), "POST", "/", headers, True, client.receive, client.send)
        )
        await asyncio.sleep(1.0)
        assert not exchange.done()
        assert client.taken < 48, f"{client.taken} MiB taken from the client"
        exchange.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await exchange


async def test_nothing_that_would_break_the_framing_goes_out() -> None:
    with pytest.raises(ValueError, match="framing"):
        request_head("GET", "/a b", "127.0.0.1", 1, [])
    with pytest.raises(ValueError, match="framing"):
        request_head("GET", "/", "127.0.0.1", 1, [(b"x-a", b"1\r\nx-b: 2")])
    with pytest.raises(ValueError, match="framing"):
        request_head("GET", "/", "127.0.0.1", 1, [(b"x-a", b"1\x00")])
    assert request_head("GET", "/", "h", 1, [(b"x-a", b"a\tb")]).endswith(b"x-a: a\tb\r\n\r\n")
    target = ProxyTarget(
        sandbox_id="s", tenant_id="t", port=1, host="127.0.0.1", host_port=9, prefix="/p", idle_timeout_seconds=None
    )
    client = Client()
    with pytest.raises(ValidationFailed):
        await through(UpstreamPool(), target, "GET", [(b"x-a", b"\n")], False, client)
