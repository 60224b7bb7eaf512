"""The runtime proxy across machines (issue 15 over issue 11): two `tesserra serve` nodes that look like
separate machines (distinct boot ids, TESSERRA_BOOT_ID; separate loopback addresses, data dirs and
runtimes) share one PostgreSQL and one Redis. A sandbox made through node A runs on A; through node
B every kind of proxied request still reaches it: B checks the caller's access itself (a wrong token
401, another tenant's sandbox 404), then forwards the request to A's own address (its advertised
TESSERRA_NODE_URL, here the default made of its listening address), which checks it again and proxies
it: a GET, a POST whose body arrives whole, an SSE stream, a WebSocket echo. The sandbox receives none
of the caller's credentials (header token, cookie, bearer) nor the hop mark; a hop mark a client
forges gains nothing (A proxies as usual; B, whose runtime lacks the workload, answers 502)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tesserra_adapters.runtime.sandbox import Sandbox
from tests import support
from tests.cluster.conftest import Owner, client, new_owner
from tests.cluster.echo import HEADER, PROXY, serving_echo
from tests.servers.cluster import Cluster, cluster

pytestmark = pytest.mark.postgres

SECRETS = {"authorization", "cookie", "x-tesserra-proxy-token", "x-tesserra-node-hop", "x-api-key"}


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    if (problem := Sandbox().problem) is not None:
        support.missing("the process sandbox", problem)
    machines = {"n1": {"TESSERRA_BOOT_ID": "machine-one"}, "n2": {"TESSERRA_BOOT_ID": "machine-two"}}
    async with cluster(tmp_path_factory.mktemp("hop-cluster"), size=2, each=machines) as made:
        yield made


@pytest.fixture(scope="module")
async def box(nodes: Cluster) -> AsyncIterator[tuple[str, Owner, str]]:
    """A sandbox running the echo server, made through node A (n1), with a proxy token."""
    a = nodes.node("n1")
    owner = await new_owner(nodes.url)
    async with client(a.url) as http:
        box_id, token = await serving_echo(http, owner)
    try:
        yield box_id, owner, token
    finally:
        async with client(a.url) as http:
            gone = await http.delete(f"/api/sandboxes/{box_id}", headers=owner.bearer)
        assert gone.status_code in (200, 404), gone.text


def _seen(answer: httpx.Response) -> dict[str, object]:
    assert answer.status_code == 200, answer.text
    seen: dict[str, object] = answer.json()
    names = {str(name).lower() for name, _ in seen["headers"]}  # type: ignore[attr-defined]
    assert not names & SECRETS, names
    return seen


async def test_every_kind_of_proxied_request_reaches_a_sandbox_on_another_machine(
    nodes: Cluster, box: tuple[str, Owner, str]
) -> None:
    box_id, owner, token = box
    b = nodes.node("n2")
    async with client(b.url) as http:
        got = await http.get(f"{PROXY}/{box_id}/hello?x=1&y=%20", headers={HEADER: token})
        seen = _seen(got)
        assert (seen["method"], seen["target"]) == ("GET", "/hello?x=1&y=%20")
        assert got.headers["content-security-policy"].startswith("sandbox")
        assert len(got.headers.get_list("x-request-id")) == 1
        # it went through A: B's request id is the one A proxied under (the client sent none); the
        # sandbox sees the host the client addressed (B's), never A's
        assert dict((str(k).lower(), v) for k, v in seen["headers"])["x-forwarded-host"] == f"{b.host}:{b.port}"  # type: ignore[attr-defined]
        assert dict((str(k).lower(), v) for k, v in seen["headers"])["x-request-id"] == got.headers["x-request-id"]  # type: ignore[attr-defined]
        assert len(got.headers.get_list("date")) == 1

        payload = bytes(range(256)) * 4096  # 1 MiB
        posted = _seen(await http.post(f"{PROXY}/{box_id}/upload", content=payload, headers={HEADER: token}))
        assert (posted["method"], posted["length"]) == ("POST", len(payload))
        assert posted["sha256"] == hashlib.sha256(payload).hexdigest()

        async def pieces() -> AsyncIterator[bytes]:  # a body of unknown length, chunked both hops
            for i in range(5):
                yield b"piece %d;" % i

        streamed = _seen(await http.post(f"{PROXY}/{box_id}/stream", content=pieces(), headers={HEADER: token}))
        assert streamed["sha256"] == hashlib.sha256(b"".join(b"piece %d;" % i for i in range(5))).hexdigest()

        # the caller's own credentials (bearer) and the cookie a query token is exchanged for
        _seen(await http.get(f"{PROXY}/{box_id}/own", headers=owner.bearer))
        exchanged = await http.get(f"{PROXY}/{box_id}/q?tesserra_proxy_token={token}")
        assert exchanged.status_code == 303, exchanged.text
        by_cookie = _seen(await http.get(f"{PROXY}/{box_id}/q"))
        assert by_cookie["target"] == "/q"

        # a stream comes as it is sent, through both nodes
        async with http.stream("GET", f"{PROXY}/{box_id}/sse?n=4&delay=0.2", headers={HEADER: token}) as events:
            assert events.status_code == 200
            assert events.headers["content-type"] == "text/event-stream"
            got_events = []
            loop = asyncio.get_running_loop()
            async for line in events.aiter_lines():
                if line.startswith("data:"):
                    got_events.append((line, loop.time()))
        assert [line for line, _ in got_events] == [f"data: event {i}" for i in range(4)]
        assert got_events[-1][1] - got_events[0][1] > 0.4  # not held whole by either node

    async with client(nodes.url) as http:
        minted = await http.get(f"/api/runtime/proxy-auth/{box_id}", headers=owner.bearer)
        assert minted.status_code == 200, minted.text
        once = minted.json()["token"]
    # a WebSocket, upgraded on B and relayed through A
    async with connect(
        f"ws://{b.host}:{b.port}{PROXY}/{box_id}/ws", additional_headers={HEADER: token}, open_timeout=10
    ) as ws:
        for message in ("hello", b"\x00\x01binary" * 1000, "close-not-yet"):
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), 10) == message
    # with the token in the query (exchanged once, on B: it travels on to A in the header)
    async with connect(f"ws://{b.host}:{b.port}{PROXY}/{box_id}/ws?tesserra_proxy_token={once}", open_timeout=10) as ws:
        await ws.send("by query")
        assert await asyncio.wait_for(ws.recv(), 10) == "by query"


async def test_access_is_checked_on_the_node_the_request_reaches(nodes: Cluster, box: tuple[str, Owner, str]) -> None:
    box_id, _, token = box
    b = nodes.node("n2")
    stranger = await new_owner(nodes.url)
    async with client(b.url) as http:
        wrong = await http.get(f"{PROXY}/{box_id}/", headers={HEADER: token[:-3] + "AAA"})
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_proxy_token")
        other = await http.get(f"{PROXY}/{box_id}/", headers=stranger.bearer)
        assert (other.status_code, other.json()["code"]) == (404, "sandbox_not_found")
        none = await http.get(f"{PROXY}/{box_id}/")
        assert none.status_code == 401


async def test_a_forged_hop_mark_gains_nothing(nodes: Cluster, box: tuple[str, Owner, str]) -> None:
    box_id, _, token = box
    a, b = nodes.node("n1"), nodes.node("n2")
    forged = {HEADER: token, "X-Tesserra-Node-Hop": "someone"}
    async with client(a.url) as http:  # the owner: proxied as usual, the mark not passed on
        _seen(await http.get(f"{PROXY}/{box_id}/", headers=forged))
    async with client(b.url) as http:  # not the owner: never forwarded on
        refused = await http.get(f"{PROXY}/{box_id}/", headers=forged)
        assert (refused.status_code, refused.json()["code"]) == (502, "sandbox_unreachable")
        assert json.dumps(refused.json()).find(token) == -1
    with pytest.raises(InvalidStatus) as refused_ws:
        async with connect(f"ws://{b.host}:{b.port}{PROXY}/{box_id}/ws", additional_headers=forged, open_timeout=10):
            pass
    assert refused_ws.value.response.status_code == 502
