"""Request smuggling through the runtime proxy, over raw sockets, to a real sandbox (the echo server
under bubblewrap and pasta).

An attacker sends requests whose length two HTTP parsers could read differently (Content-Length
beside Transfer-Encoding, two Content-Lengths, obfuscated Transfer-Encoding, folded headers, bare
LF). Whatever the attacker's own connection gets back, it is never a 5xx, and the sandbox never runs
a request hidden in a body: had it run one, its answer would wait on a pooled upstream connection
and reach the next client, so clients that come after each attempt check that every answer is their
own."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.drivers.http.conftest import Account, Accounts
from tests.drivers.http.test_runtime_proxy import HEADER, PROXY, make_sandbox, mint, until_served

HIDDEN = b"GET /smuggled HTTP/1.1\r\nHost: sandbox\r\n\r\n"


@pytest.fixture
async def echo(client: httpx.AsyncClient, accounts: Accounts) -> AsyncIterator[tuple[Account, dict[str, Any]]]:
    owner = await accounts.tenant_owner()
    box = await make_sandbox(client, owner)
    token = (await mint(client, owner, box["id"]))["token"]
    ready = await until_served(client, f"{PROXY}/{box['id']}/", {HEADER: token})
    assert ready.status_code == 200, ready.text
    yield owner, box
    await client.delete(f"/api/sandboxes/{box['id']}", headers=owner.bearer)


def attempt(target: str, token: str, framing: list[str], body: bytes, *, eol: bytes = b"\r\n") -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", f"{HEADER}: {token}", *framing]
    return eol.join(line.encode("latin-1") for line in lines) + eol + eol + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


ATTEMPTS: dict[str, tuple[list[str], bytes, bytes]] = {
    # CL.TE: a front end reading Content-Length forwards the whole body; a back end reading chunked
    # ends the body at the empty chunk and runs what follows.
    "content-length and chunked": (
        [f"Content-Length: {5 + len(HIDDEN)}", "Transfer-Encoding: chunked"],
        b"0\r\n\r\n" + HIDDEN,
        b"\r\n",
    ),
    # TE.CL: the other way round.
    "chunked and a short content-length": (
        ["Transfer-Encoding: chunked", "Content-Length: 4"],
        chunk(HIDDEN) + b"0\r\n\r\n",
        b"\r\n",
    ),
    "two content-lengths": (
        ["Content-Length: 0", f"Content-Length: {len(HIDDEN)}"],
        HIDDEN,
        b"\r\n",
    ),
    "content-length with a sign": ([f"Content-Length: +{len(HIDDEN)}"], HIDDEN, b"\r\n"),
    "obfuscated transfer-encoding": (
        [f"Content-Length: {5 + len(HIDDEN)}", "Transfer-Encoding: xchunked"],
        b"0\r\n\r\n" + HIDDEN,
        b"\r\n",
    ),
    "transfer-encoding with a second coding": (
        [f"Content-Length: {5 + len(HIDDEN)}", "Transfer-Encoding: chunked, identity"],
        b"0\r\n\r\n" + HIDDEN,
        b"\r\n",
    ),
    "transfer-encoding twice": (
        [f"Content-Length: {5 + len(HIDDEN)}", "Transfer-Encoding: identity", "Transfer-Encoding: chunked"],
        b"0\r\n\r\n" + HIDDEN,
        b"\r\n",
    ),
    "folded transfer-encoding": (
        [f"Content-Length: {5 + len(HIDDEN)}", "Transfer-Encoding:", " chunked"],
        b"0\r\n\r\n" + HIDDEN,
        b"\r\n",
    ),
    "bare line feeds": (
        [f"Content-Length: {5 + len(HIDDEN)}", "Transfer-Encoding: chunked"],
        b"0\n\n" + HIDDEN.replace(b"\r\n", b"\n"),
        b"\n",
    ),
}


async def answers_to(port: int, request: bytes) -> list[tuple[int, bytes]]:
    """Every answer the attacker's connection gets, until the server closes it or goes quiet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got: list[tuple[int, bytes]] = []
    try:
        writer.write(request)
        await writer.drain()
        while True:
            try:
                status_line = await asyncio.wait_for(reader.readline(), 3)
            except TimeoutError:
                break
            if not status_line:
                break
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await read_body(reader, headers)
            got.append((int(status_line.split()[1]), body))
            if headers.get("connection", "").lower() == "close":
                break
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return got


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readline()).split(b";")[0] or b"0", 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
        return body
    return await reader.readexactly(int(headers.get("content-length", "0")))


@pytest.mark.parametrize("name", list(ATTEMPTS))
async def test_a_request_hidden_in_a_body_never_runs_in_the_sandbox(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]], name: str
) -> None:
    owner, box = echo
    attacker = (await mint(client, owner, box["id"]))["token"]
    victim = {HEADER: (await mint(client, owner, box["id"]))["token"]}
    framing, body, eol = ATTEMPTS[name]
    port = int(str(client.base_url).rsplit(":", 1)[1].rstrip("/"))

    got = await answers_to(port, attempt(f"{PROXY}/{box['id']}/attack", attacker, framing, body, eol=eol))

    assert all(status < 500 for status, _ in got), got
    for status, answer in got:  # what reached the sandbox, if anything, was one request with its body
        if status == 200:
            seen = json.loads(answer)
            assert seen["target"] == "/attack", seen
    # Clients after the attempt, on the proxy's pooled upstream connections: each gets its own answer.
    for i in range(8):
        reply = await client.get(f"{PROXY}/{box['id']}/after-{i}", headers=victim)
        assert reply.status_code == 200, reply.text
        assert reply.json()["target"] == f"/after-{i}", reply.text


async def test_two_requests_pipelined_in_the_open_each_get_their_answer_in_order(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    """The control: where a second request is sent as a request, not hidden in a body, the connection
    above reads both answers, so the attempts above would have shown one that ran."""
    owner, box = echo
    token = (await mint(client, owner, box["id"]))["token"]
    port = int(str(client.base_url).rsplit(":", 1)[1].rstrip("/"))
    first = attempt(f"{PROXY}/{box['id']}/first", token, ["Content-Length: 2"], b"hi")
    second = attempt(f"{PROXY}/{box['id']}/second", token, ["Content-Length: 0", "Connection: close"], b"")

    got = await answers_to(port, first + second)

    assert [status for status, _ in got] == [200, 200], got
    assert [json.loads(answer)["target"] for _, answer in got] == ["/first", "/second"]
