"""WebSockets to one sandbox through HAProxy and every node (issue 15 over issue 11's runtime proxy): a
sandbox made on the process runtime through the balancer, then WebSockets opened to it through the
balancer land round robin on every node, the ones that did not start it included (each handshake's
``X-Tesserra-Node`` names its node); text and binary frames echo both ways, and an SSE stream comes
through each node's own address; a revocation of the sandbox's tokens, and its delete, made through
one node close the WebSockets open on every node with 1008 within the README's 2 s; HAProxy's
``timeout tunnel`` (not ``timeout client``/``server``) is what ends an idle one. This module's cluster
runs HAProxy with short timeouts to show that last part."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tesserra_adapters.runtime.sandbox import Sandbox
from tests import support
from tests.cluster.conftest import Owner, client, fresh_address, new_owner, node_of
from tests.cluster.echo import ECHO, HEADER, PROXY
from tests.servers.cluster import NODE_HEADER, Cluster, cluster

pytestmark = pytest.mark.postgres

CUT_WITHIN = 2.0
"""Seconds after a revocation's (or delete's) answer by which every WebSocket it ends is closed (README)."""
SOCKETS = 6
"""WebSockets opened at once: two per node, round robin."""
CLIENT_SERVER = 4.0
TUNNEL = 8.0
"""This module's HAProxy timeouts (seconds): ``client``/``server`` and ``tunnel``."""


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    if (problem := Sandbox().problem) is not None:
        support.missing("the process sandbox", problem)
    timeouts = {"client": f"{CLIENT_SERVER:g}s", "server": f"{CLIENT_SERVER:g}s", "tunnel": f"{TUNNEL:g}s"}
    async with cluster(tmp_path_factory.mktemp("ws-cluster"), timeouts=timeouts) as made:
        yield made


@dataclass
class Box:
    id: str
    made_on: str
    """The node that started it (its workload runs in that node's runtime)."""
    owner: Owner
    token: str = ""
    sockets: list[Socket] = field(default_factory=list)


@dataclass
class Socket:
    ws: ClientConnection
    node: str
    closed_at: float | None = None
    code: int | None = None
    _watch: asyncio.Task[None] | None = None


async def _make(nodes: Cluster) -> Box:
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        body = {"name": "echo", "command": [str(ECHO)], "ports": [8000]}
        made = await http.post("/api/sandboxes", json=body, headers=owner.bearer)
        assert made.status_code == 201, made.text
        assert made.json()["state"] == "running", made.json()
    box = Box(made.json()["id"], node_of(made), owner)
    await _mint(nodes, box)
    made_on = nodes.node(box.made_on)
    async with client(made_on.url) as direct:  # its server listens a moment after the sandbox runs

        async def served() -> bool:
            answer = await direct.get(f"{PROXY}/{box.id}/", headers={HEADER: box.token})
            return answer.status_code == 200

        await support.eventually(served, within=30, every=0.1)
    return box


async def _mint(nodes: Cluster, box: Box) -> None:
    async with client(nodes.url) as http:
        answer = await http.get(f"/api/runtime/proxy-auth/{box.id}", headers=box.owner.bearer)
    assert answer.status_code == 200, answer.text
    box.token = answer.json()["token"]


async def _open(nodes: Cluster, box: Box, n: int = SOCKETS) -> list[Socket]:
    """``n`` WebSockets through HAProxy, one after another (each a new connection), each echoing once."""
    opened = []
    for _ in range(n):
        ws = await connect(
            f"ws://127.0.0.1:{nodes.port}{PROXY}/{box.id}/ws",
            additional_headers={HEADER: box.token},
            ping_interval=None,  # the client sends no pings of its own: idle means idle
            open_timeout=10,
            local_addr=(fresh_address(), 0),
        )
        assert ws.response is not None
        opened.append(Socket(ws, ws.response.headers[NODE_HEADER]))
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 10) == "hello"
    box.sockets.extend(opened)
    return opened


async def _watch(socket: Socket) -> None:
    """Reads until the WebSocket closes, noting when and with which code (what HAProxy or the node sent)."""
    try:
        async for _ in socket.ws:
            pass
    except ConnectionClosed:
        pass
    socket.closed_at = time.monotonic()
    socket.code = socket.ws.close_code


def _watching(sockets: list[Socket]) -> None:
    for socket in sockets:
        socket._watch = asyncio.create_task(_watch(socket))


async def _closed(sockets: list[Socket], since: float, code: int) -> None:
    with contextlib.suppress(TimeoutError):  # wait generously, then judge the time each took
        await asyncio.wait_for(asyncio.gather(*(s._watch for s in sockets if s._watch)), CUT_WITHIN + 10)
    late = {s.node: (None if s.closed_at is None else round(s.closed_at - since, 2)) for s in sockets}
    assert all(s.closed_at is not None and s.closed_at - since < CUT_WITHIN for s in sockets), late
    assert [s.code for s in sockets] == [code] * len(sockets), [(s.node, s.code) for s in sockets]


async def _close_all(box: Box) -> None:
    for socket in box.sockets:
        if socket._watch is not None:
            socket._watch.cancel()
        with contextlib.suppress(Exception):
            await socket.ws.close()


@pytest.fixture
async def box(nodes: Cluster) -> AsyncIterator[Box]:
    made = await _make(nodes)
    try:
        yield made
    finally:  # a sandbox outlives its server: delete it even when the test fails
        await _close_all(made)
        async with client(nodes.url) as http:
            gone = await http.delete(f"/api/sandboxes/{made.id}", headers=made.owner.bearer)
        assert gone.status_code in (200, 404), gone.text


async def test_websockets_on_every_node_echo_and_end_with_a_revocation_or_delete_made_on_one(
    nodes: Cluster, box: Box
) -> None:
    sockets = await _open(nodes, box)
    served_by = {s.node for s in sockets}
    assert served_by == {n.name for n in nodes.nodes}, (box.made_on, [s.node for s in sockets])

    # frames both ways, text and binary, on every socket at once
    async def exchange(socket: Socket) -> None:
        for i in range(20):
            text, data = f"text {i} via {socket.node}", bytes([i, 0, 255]) * (i * 100 + 1)
            await socket.ws.send(text)
            await socket.ws.send(data)
            assert await asyncio.wait_for(socket.ws.recv(), 10) == text
            assert await asyncio.wait_for(socket.ws.recv(), 10) == data

    await asyncio.gather(*(exchange(s) for s in sockets))
    # plain HTTP (an SSE stream) reaches it through each node's own address as well
    for node in nodes.nodes:
        async with client(node.url) as direct:
            events = await direct.get(f"{PROXY}/{box.id}/sse?n=3&delay=0.01", headers={HEADER: box.token})
        assert events.status_code == 200, (node.name, events.text)
        assert events.text == "".join(f"data: event {i}\n\n" for i in range(3)), node.name

    # revoking the sandbox's tokens through one node closes those open on every node
    _watching(sockets)
    async with client(nodes.url) as http:
        revoked = await http.delete(f"/api/runtime/proxy-auth/{box.id}", headers=box.owner.bearer)
        since = time.monotonic()
    assert revoked.status_code == 200, revoked.text
    await _closed(sockets, since, 1008)

    # a new token opens new ones; deleting the sandbox through one node closes them on every node
    await _mint(nodes, box)
    sockets = await _open(nodes, box)
    assert {s.node for s in sockets} == served_by
    _watching(sockets)
    async with client(nodes.url) as http:
        deleted = await http.delete(f"/api/sandboxes/{box.id}", headers=box.owner.bearer)
        since = time.monotonic()
    assert deleted.status_code == 200, deleted.text
    await _closed(sockets, since, 1008)


async def test_an_idle_websocket_outlives_client_and_server_timeouts_and_ends_at_the_tunnel_timeout(
    nodes: Cluster, box: Box
) -> None:
    sockets = await _open(nodes, box, n=len(nodes.nodes))
    # idle past `timeout client`/`server`: still open and echoing (`timeout tunnel` is what applies)
    await asyncio.sleep(CLIENT_SERVER + 1.5)
    for socket in sockets:
        await socket.ws.send(b"still here")
        assert await asyncio.wait_for(socket.ws.recv(), 10) == b"still here"
    since = time.monotonic()
    # then idle past `timeout tunnel` (shorter than uvicorn's 20 s pings): HAProxy ends them, no close frame
    _watching(sockets)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(s._watch for s in sockets if s._watch)), TUNNEL + 10)
    ended: dict[str, Any] = {s.node: (s.code, s.closed_at and round(s.closed_at - since, 2)) for s in sockets}
    assert all(s.closed_at is not None and TUNNEL - 0.5 < s.closed_at - since < TUNNEL + 2 for s in sockets), ended
    assert all(s.code == 1006 for s in sockets), ended
