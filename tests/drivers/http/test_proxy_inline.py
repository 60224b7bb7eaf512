"""Proxied requests answered on callbacks (``tesserra_http.proxy.inline``), over real sockets to the
echo sandbox (bubblewrap and pasta) under the real server protocol: which requests take that way and
which the task's, what the sandbox receives and the client gets back on it, a kept-alive connection
the sandbox closes under a request (sent again, answered), an answer that is not HTTP (502), a client
gone mid-stream, back-pressure from a client that does not read, and a revocation cutting a stream.

Each test opens its own connections after ``inline`` wraps ``ProxyEntry.inline`` (the protocol takes
the method when a connection opens) and looks at the exchanges it took."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tesserra_http.proxy.connection import HIGH_WATER
from tesserra_http.proxy.entry import ProxyEntry
from tesserra_http.proxy.inline import InlineExchange
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.drivers.http.test_runtime_proxy import HEADER, PROXY, make_sandbox, mint, until_served
from tests.support import LiveServer, eventually

TRIES = 10
"""A request goes inline only within half a second of the sandbox's last read (``SandboxReads``): a
test that needs one inline warms the read and tries again, up to this many times, on a slow machine."""


@pytest.fixture
def inline(monkeypatch: pytest.MonkeyPatch) -> list[InlineExchange]:
    """The exchanges answered inline on connections opened from now on."""
    taken: list[InlineExchange] = []
    original = ProxyEntry.inline

    def noting(self: ProxyEntry, cycle: Any, again: Any) -> InlineExchange | None:
        exchange = original(self, cycle, again)
        if exchange is not None:
            taken.append(exchange)
        return exchange

    monkeypatch.setattr(ProxyEntry, "inline", noting)
    return taken


@pytest.fixture
async def box(client: httpx.AsyncClient, accounts: Accounts) -> AsyncIterator[tuple[Account, str, str]]:
    owner = await accounts.tenant_owner()
    made = await make_sandbox(client, owner)
    token = (await mint(client, owner, made["id"]))["token"]
    assert (await until_served(client, f"{PROXY}/{made['id']}/", {HEADER: token})).status_code == 200
    yield owner, made["id"], token
    await client.delete(f"/api/sandboxes/{made['id']}", headers=owner.bearer)


def _took(inline: list[InlineExchange], path: bytes) -> InlineExchange | None:
    return next((exchange for exchange in inline if exchange.cycle.scope["raw_path"].endswith(path)), None)


async def _inline_get(
    proxied: httpx.AsyncClient, inline: list[InlineExchange], url: str, headers: dict[str, str]
) -> tuple[httpx.Response, InlineExchange]:
    """GET ``url`` until a try of it went inline (a warming request before each)."""
    for _ in range(TRIES):
        await proxied.get(url.rsplit("/", 1)[0] + "/warm", headers=headers)
        answer = await proxied.get(url, headers=headers)
        took = _took(inline, url.rsplit("/", 1)[1].split("?")[0].encode())
        if took is not None:
            return answer, took
    pytest.fail(f"no try of {url} went inline")


async def test_plain_requests_go_inline_with_the_same_rules(
    server: LiveServer, inline: list[InlineExchange], box: tuple[Account, str, str]
) -> None:
    owner, sid, token = box
    caller = {HEADER: token, "Authorization": "Bearer not-for-the-sandbox", "Cookie": "console=secret"}
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as proxied:
        answer, _ = await _inline_get(proxied, inline, f"{PROXY}/{sid}/seen?x=1", caller)
        assert answer.status_code == 200, answer.text
        seen = json.loads(answer.text)
        assert seen["target"] == "/seen?x=1"
        names = {name.lower() for name, _ in seen["headers"]}
        assert not names & {"authorization", "cookie", HEADER.lower()}
        assert {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-prefix"} <= names
        assert answer.headers["content-security-policy"].startswith("sandbox")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert len(answer.headers["x-request-id"]) == 32
        cookies, _ = await _inline_get(proxied, inline, f"{PROXY}/{sid}/cookies", {HEADER: token})
        assert "set-cookie" not in cookies.headers
        assert "access-control-allow-origin" not in cookies.headers
        assert cookies.headers["x-sandbox"] == "kept"
        head, _ = await _inline_get(proxied, inline, f"{PROXY}/{sid}/headed", {HEADER: token})
        assert head.status_code == 200
        # What must be waited for, or has a body, takes the task's way: the same answers.
        before = len(inline)
        posted = await proxied.post(f"{PROXY}/{sid}/posted", headers={HEADER: token}, content=b"x" * 1000)
        assert json.loads(posted.text)["length"] == 1000
        exchanged = await proxied.get(f"{PROXY}/{sid}/q", params={"tesserra_proxy_token": token})
        assert exchanged.status_code == 303
        proxied.cookies.clear()  # the cookie it set is a proxy token too
        own = await proxied.get(f"{PROXY}/{sid}/own", headers=owner.bearer)
        assert own.status_code == 200, own.text
        assert_error(await proxied.get(f"{PROXY}/{sid}/x", headers={HEADER: token + "x"}), 401)
        assert len(inline) == before


async def test_a_connection_closed_under_the_request_sends_it_again(
    server: LiveServer, inline: list[InlineExchange], box: tuple[Account, str, str]
) -> None:
    """The sandbox answers ``/hangup-next`` and closes the kept-alive connection on the next request
    without answering it: that request goes the task's way, on a new connection, and is answered."""
    _, sid, token = box
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as proxied:
        for _ in range(TRIES):
            await proxied.get(f"{PROXY}/{sid}/hangup-next", headers={HEADER: token})
            again = await proxied.get(f"{PROXY}/{sid}/after", headers={HEADER: token})
            assert again.status_code == 200, again.text
            assert json.loads(again.text)["target"] == "/after"
            took = _took(inline, b"/after")
            if took is not None:
                assert took.over  # it left the closed connection
                assert took.conn.closed
                return
    pytest.fail("no try went inline")


async def test_an_answer_that_is_not_http_is_a_502(
    server: LiveServer, inline: list[InlineExchange], box: tuple[Account, str, str]
) -> None:
    _, sid, token = box
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as proxied:
        answer, took = await _inline_get(proxied, inline, f"{PROXY}/{sid}/garbage", {HEADER: token})
        assert_error(answer, 502, "sandbox_unreachable")
        assert took.over
        assert (await proxied.get(f"{PROXY}/{sid}/fine", headers={HEADER: token})).status_code == 200


@contextlib.asynccontextmanager
async def _inline_stream(
    server: LiveServer, inline: list[InlineExchange], sid: str, token: str, target: str, until: bytes
) -> AsyncIterator[tuple[asyncio.StreamReader, InlineExchange]]:
    """A raw connection whose GET of ``target`` went inline, read up to ``until``; aborted at the end
    (the server, stopping, waits for its connections: a failed test must not leave one open)."""
    name = target.split("?")[0].encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as warming:
        for _ in range(TRIES):
            await warming.get(f"{PROXY}/{sid}/warm", headers={HEADER: token})
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                request = f"GET {PROXY}/{sid}{target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{HEADER}: {token}\r\n\r\n"
                writer.write(request.encode())
                assert (await asyncio.wait_for(reader.readuntil(until), 10)).startswith(b"HTTP/1.1 200")
                took = next((e for e in inline if e.cycle.scope["raw_path"].endswith(name) and not e.over), None)
                if took is not None:
                    yield reader, took
                    return
            finally:
                writer.transport.abort()
    pytest.fail(f"no try of {target} went inline")


async def test_a_client_gone_mid_stream_ends_the_exchange(
    server: LiveServer, inline: list[InlineExchange], box: tuple[Account, str, str]
) -> None:
    _, sid, token = box
    watch = server.uc.runtime.watch
    async with _inline_stream(server, inline, sid, token, "/slow?n=100000&delay=0.01", b"chunk 3\n") as (_, took):
        assert watch.open_connections(sid) == 1
    # the client's connection aborted

    async def ended() -> bool:
        return took.over and took.conn.closed and watch.open_connections(sid) == 0

    await eventually(ended, within=5)


async def test_a_client_that_does_not_read_holds_the_sandbox_back(
    server: LiveServer, inline: list[InlineExchange], box: tuple[Account, str, str]
) -> None:
    """Nothing more is read from the sandbox while the client's side is full; all of it arrives once
    the client reads."""
    _, sid, token = box
    size = 64 << 20
    async with _inline_stream(server, inline, sid, token, f"/download?bytes={size}", b"\r\n\r\n") as (reader, took):
        await asyncio.sleep(1.0)  # the client reads nothing
        assert took.cycle.flow.write_paused
        held = took.conn.buffered + took.cycle.transport.get_write_buffer_size()
        assert held <= HIGH_WATER + (1 << 20), held  # the high water, and what one read past it may bring
        total = 0
        while True:  # the chunked body, to its last chunk
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
            length = int(line.strip(), 16)
            await asyncio.wait_for(reader.readexactly(length + 2), 10)
            if length == 0:
                break
            total += length
        assert total == size
        assert took.over


async def test_a_revocation_cuts_an_inline_stream(
    server: LiveServer,
    client: httpx.AsyncClient,
    inline: list[InlineExchange],
    box: tuple[Account, str, str],
) -> None:
    owner, sid, token = box
    async with _inline_stream(server, inline, sid, token, "/slow?n=100000&delay=0.01", b"chunk 3\n") as (reader, took):
        revoked = await client.delete(f"/api/runtime/proxy-auth/{sid}", headers=owner.bearer)
        assert revoked.status_code == 200, revoked.text
        rest = await asyncio.wait_for(reader.read(), 2.5)  # until the server closes the connection
        assert not rest.endswith(b"0\r\n\r\n")  # cut, not finished
        assert took.over
    assert_error(await client.get(f"{PROXY}/{sid}/x", headers={HEADER: token}), 401, "proxy_token_revoked")
