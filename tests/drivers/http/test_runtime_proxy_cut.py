"""Revoking one proxy token by its id, and open connections cut by a revocation: over real sockets to
the echo sandbox (bubblewrap and pasta). A revoked token's open WebSocket and streaming response end
within 2 s of the revocation's answer, and so do every connection's when all tokens are revoked or the
sandbox stops or is deleted; the sandbox's other tokens, its owner's own credentials (for a
revocation) and other sandboxes' and tenants' tokens are unaffected."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.drivers.http.test_runtime_proxy import HEADER, PROXY, make_sandbox, mint, until_served
from tests.support import LiveServer, eventually

CUT_WITHIN = 2.0
"""Seconds after a revocation's answer by which an open connection it ends must be closed."""


async def _ready(client: httpx.AsyncClient, who: Account) -> tuple[dict[str, Any], str]:
    box = await make_sandbox(client, who)
    token = (await mint(client, who, box["id"]))["token"]
    assert (await until_served(client, f"{PROXY}/{box['id']}/", {HEADER: token})).status_code == 200
    return box, token


class Open:
    """A WebSocket and a server-sent event stream held open through the proxy, each noting when it ended."""

    def __init__(self, server: LiveServer, sid: str, headers: dict[str, str]) -> None:
        self.base = f"127.0.0.1:{server.port}{PROXY}/{sid}"
        self.headers = headers
        self.ws_ended: float | None = None
        self.ws_close_code: int | None = None
        self.sse_ended: float | None = None
        self.events = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._ws_done, self._sse_done = asyncio.Event(), asyncio.Event()

    async def start(self, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(f"ws://{self.base}/ws", headers=self.headers)
        await ws.send_str("hello")
        assert (await ws.receive(timeout=10)).data == "hello"
        self.ws = ws
        self._tasks.append(asyncio.create_task(self._watch_ws(ws)))
        sse = await session.get(f"http://{self.base}/sse?n=100000&delay=0.05", headers=self.headers)
        assert sse.status == 200
        self._tasks.append(asyncio.create_task(self._watch_sse(sse)))
        await eventually(self._flowing, within=10)

    async def _flowing(self) -> bool:
        return self.events >= 2

    async def _watch_ws(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                self.ws_ended, self.ws_close_code = time.monotonic(), ws.close_code
                self._ws_done.set()
                return

    async def _watch_sse(self, response: aiohttp.ClientResponse) -> None:
        try:
            async for _ in response.content:
                self.events += 1
        except (aiohttp.ClientError, OSError):
            pass
        self.sse_ended = time.monotonic()
        self._sse_done.set()

    async def still_open(self) -> bool:
        """Both still carry traffic: the WebSocket echoes, the stream has sent more events."""
        before = self.events
        await self.ws.send_str("still there")
        await asyncio.sleep(0.5)
        return self.ws_ended is None and self.sse_ended is None and self.events > before

    async def cut_by(self, since: float) -> None:
        with contextlib.suppress(TimeoutError):  # wait generously, then judge the time it took
            await asyncio.wait_for(asyncio.gather(self._ws_done.wait(), self._sse_done.wait()), CUT_WITHIN + 10)
        assert self.ws_ended is not None, "the WebSocket stayed open"
        assert self.sse_ended is not None, "the stream stayed open"
        assert self.ws_ended - since < CUT_WITHIN, f"WebSocket cut after {self.ws_ended - since:.2f} s"
        assert self.sse_ended - since < CUT_WITHIN, f"stream cut after {self.sse_ended - since:.2f} s"

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_one_token_is_revoked_by_its_id_and_its_connections_are_cut(
    client: httpx.AsyncClient, server: LiveServer, accounts: Accounts, session: aiohttp.ClientSession
) -> None:
    owner, stranger = await accounts.tenant_owner(), await accounts.tenant_owner("Other")
    box, _ = await _ready(client, owner)
    sibling, sibling_token = await _ready(client, owner)
    foreign, foreign_token = await _ready(client, stranger)
    sid = box["id"]
    doomed, kept = await mint(client, owner, sid), await mint(client, owner, sid)
    cut = Open(server, sid, {HEADER: doomed["token"]})
    spared = Open(server, sid, {HEADER: kept["token"]})
    others = [
        Open(server, sibling["id"], {HEADER: sibling_token}),
        Open(server, foreign["id"], {HEADER: foreign_token}),
    ]
    for opened in (cut, spared, *others):
        await opened.start(session)
    try:
        url = f"/api/runtime/proxy-auth/{sid}/{doomed['token_id']}"
        # nobody else can revoke it: another tenant meets the 404 of a missing sandbox
        assert_error(await client.delete(url, headers=stranger.bearer), 404, "sandbox_not_found")
        assert_error(
            await client.delete(f"/api/runtime/proxy-auth/{sid}/not%20an%20id", headers=owner.bearer),
            422,
            "invalid_token_id",
        )
        assert await cut.still_open()
        revoked = await client.delete(url, headers=owner.bearer)
        since = time.monotonic()
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["token_id"] == doomed["token_id"]
        await cut.cut_by(since)
        assert cut.ws_close_code == 1008
        for survivor in (spared, *others):
            assert await survivor.still_open()
        assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: doomed["token"]}), 401, "proxy_token_revoked")
        assert (await client.get(f"{PROXY}/{sid}/", headers={HEADER: kept["token"]})).status_code == 200
        assert (await client.get(f"{PROXY}/{sibling['id']}/", headers={HEADER: sibling_token})).status_code == 200
        assert (await client.get(f"{PROXY}/{foreign['id']}/", headers={HEADER: foreign_token})).status_code == 200
        # again: the same answer, still revoked
        assert (await client.delete(url, headers=owner.bearer)).status_code == 200
        assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: doomed["token"]}), 401, "proxy_token_revoked")
    finally:
        for opened in (cut, spared, *others):
            await opened.close()
        for made, who in ((box, owner), (sibling, owner), (foreign, stranger)):
            await client.delete(f"/api/sandboxes/{made['id']}", headers=who.bearer)


async def test_revoking_all_stopping_and_deleting_cut_open_connections(
    client: httpx.AsyncClient, server: LiveServer, accounts: Accounts, session: aiohttp.ClientSession
) -> None:
    owner = await accounts.tenant_owner()
    box, token = await _ready(client, owner)
    sid = box["id"]
    by_token, by_owner = Open(server, sid, {HEADER: token}), Open(server, sid, owner.bearer)
    await by_token.start(session)
    await by_owner.start(session)
    revoked = await client.delete(f"/api/runtime/proxy-auth/{sid}", headers=owner.bearer)
    since = time.monotonic()
    assert revoked.status_code == 200
    await by_token.cut_by(since)
    assert await by_owner.still_open()  # the owner's own credentials were not revoked
    # stopping the sandbox ends every connection, the owner's too
    stopped = await client.post(f"/api/sandboxes/{sid}/stop", headers=owner.bearer)
    since = time.monotonic()
    assert stopped.json()["state"] == "stopped"
    await by_owner.cut_by(since)
    for opened in (by_token, by_owner):
        await opened.close()
    # and deleting it
    assert (await client.post(f"/api/sandboxes/{sid}/start", headers=owner.bearer)).json()["state"] == "running"
    fresh = (await mint(client, owner, sid))["token"]
    assert (await until_served(client, f"{PROXY}/{sid}/", {HEADER: fresh})).status_code == 200
    last = Open(server, sid, {HEADER: fresh})
    await last.start(session)
    deleted = await client.delete(f"/api/sandboxes/{sid}", headers=owner.bearer)
    since = time.monotonic()
    assert deleted.json()["state"] == "deleted"
    await last.cut_by(since)
    await last.close()


async def test_a_client_that_goes_away_ends_its_exchange_with_the_sandbox(
    client: httpx.AsyncClient, server: LiveServer, accounts: Accounts
) -> None:
    """The stream would run for over an hour: its exchange ends (the watch holds no connection of the
    sandbox any more) within 2 s of its client closing the connection mid-response."""
    who = await accounts.tenant_owner()
    box, token = await _ready(client, who)
    watch = server.uc.runtime.watch
    try:
        async with aiohttp.ClientSession() as browser:
            stream = await browser.get(
                f"http://127.0.0.1:{server.port}{PROXY}/{box['id']}/sse?n=100000&delay=0.05", headers={HEADER: token}
            )
            assert stream.status == 200
            await stream.content.readline()
            assert watch.open_connections(box["id"]) == 1
            stream.close()  # the connection itself, mid-response
        left = time.monotonic()

        async def ended() -> bool:
            return watch.open_connections(box["id"]) == 0

        await eventually(ended, within=CUT_WITHIN + 10)
        assert time.monotonic() - left < CUT_WITHIN
    finally:  # the session's server outlives the test, and the sandbox would outlive the server
        await client.delete(f"/api/sandboxes/{box['id']}", headers=who.bearer)
