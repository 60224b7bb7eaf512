"""The runtime proxy's node hop to a node that listens on an IPv6 address (``::1``): that node
advertises ``http://[::1]:port`` (the default made of its listening address, bracketed), and the
other node, on another machine as far as either can tell (distinct boot ids), reaches a sandbox it
runs there: a GET and a WebSocket, both through the bracketed address. Skipped where ::1 cannot be
bound (the hop itself is tests/cluster/test_node_hop.py's, over IPv4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect

from tesserra_adapters.runtime.sandbox import Sandbox
from tests import support
from tests.cluster.conftest import client, new_owner
from tests.cluster.echo import HEADER, PROXY, serving_echo
from tests.servers.cluster import Cluster, cluster

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    support.require_ipv6_loopback()
    if (problem := Sandbox().problem) is not None:
        support.missing("the process sandbox", problem)
    machines = {"n1": {"TESSERRA_BOOT_ID": "machine-one"}, "n2": {"TESSERRA_BOOT_ID": "machine-two"}}
    async with cluster(tmp_path_factory.mktemp("hop6-cluster"), size=2, each=machines, hosts={"n1": "::1"}) as made:
        yield made


async def test_a_node_on_an_ipv6_address_advertises_it_bracketed_and_is_reached_there(nodes: Cluster) -> None:
    a, b = nodes.node("n1"), nodes.node("n2")
    database = await asyncpg.connect(support._asyncpg_dsn(nodes.database_url))
    try:
        advertised = {row["url"] for row in await database.fetch("SELECT url FROM nodes")}
    finally:
        await database.close()
    assert advertised == {f"http://[::1]:{a.port}", f"http://127.0.0.3:{b.port}"}

    owner = await new_owner(nodes.url)
    async with client(a.url, address="::1") as http:  # made on A: its workload runs in A's runtime
        box_id, token = await serving_echo(http, owner)
    try:
        async with client(b.url) as http:  # B forwards it to A, at [::1]
            got = await http.get(f"{PROXY}/{box_id}/six", headers={HEADER: token})
            assert got.status_code == 200, got.text
            seen = got.json()
            assert seen["target"] == "/six"
            headers = {str(k).lower(): v for k, v in seen["headers"]}
            assert headers["x-forwarded-host"] == f"{b.host}:{b.port}"
        async with connect(
            f"ws://{b.host}:{b.port}{PROXY}/{box_id}/ws", additional_headers={HEADER: token}, open_timeout=10
        ) as ws:
            await ws.send("over six")
            assert await asyncio.wait_for(ws.recv(), 10) == "over six"
    finally:
        async with httpx.AsyncClient(base_url=a.url, timeout=30) as http:
            gone = await http.delete(f"/api/sandboxes/{box_id}", headers=owner.bearer)
        assert gone.status_code in (200, 404), gone.text
