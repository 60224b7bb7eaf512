"""/mcp through HAProxy in front of three nodes, no stickiness (issue 15). A modern (2026-07-28) client
is stateless; a legacy client is served without a session (TESSERRA_MCP_SESSIONS=none: no
``Mcp-Session-Id`` is issued, the spec makes it optional), so each of its requests stands alone and
whichever node answers it, it works; the SDK's own client in both modes, and the raw exchange."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.cluster.conftest import Owner, client, new_owner
from tests.servers.cluster import NODE_HEADER, Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("time_server")]

TIME = "io.github.modelcontextprotocol-time"
LEGACY = "2025-06-18"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _key(url: str, owner: Owner) -> str:
    async with client(url) as http:
        made = await http.post("/api/auth/keys/generate", json={"name": "mcp"}, headers=owner.bearer)
        assert made.status_code == 201, made.text
        return str(made.json()["key"])


def _recording(key: str, nodes: list[str]) -> httpx2.AsyncClient:
    """The SDK's HTTP client with the key, noting which node answered each request."""

    async def note(response: Any) -> None:
        if NODE_HEADER in response.headers:
            nodes.append(response.headers[NODE_HEADER])

    return httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=60.0, event_hooks={"response": [note]})


async def _installed_time(url: str, owner: Owner) -> str:
    async with client(url) as http:
        made = await http.post(f"/api/marketplace/tools/{TIME}/install", json={}, headers=owner.bearer)
        assert made.status_code == 202, made.text
        deadline = time.monotonic() + 90
        while (got := await http.get(f"/api/installations/{made.json()['id']}", headers=owner.bearer)).json()[
            "status"
        ] == "installing":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert got.json()["status"] == "ready", got.json()
        return str(made.json()["id"])


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy", "auto"])
async def test_the_sdk_client_works_whichever_node_answers_each_request(nodes: Cluster, mode: str) -> None:
    owner = await new_owner(nodes.url)
    key = await _key(nodes.url, owner)
    installation = await _installed_time(nodes.url, owner)
    answered: list[str] = []
    async with (
        _recording(key, answered) as http,
        Client(streamable_http_client(f"{nodes.url}/mcp", http_client=http), mode=mode) as session,
    ):
        tools = {t.name for t in (await session.list_tools()).tools}
        assert {"whoami", "call_installation_tool"} <= tools
        for _ in range(len(nodes.nodes)):
            me = await session.call_tool("whoami", {})
            assert not me.is_error, me
            assert me.structured_content is not None
            assert me.structured_content["tenant"]["id"] == owner.tenant_id
            called = await session.call_tool(
                "call_installation_tool",
                {"installation_id": installation, "name": "get_current_time", "arguments": {"timezone": "Asia/Tokyo"}},
            )
            assert not called.is_error, called
            assert "Asia/Tokyo" in str(called.structured_content)
    assert set(answered) == {n.name for n in nodes.nodes}, answered


async def test_a_legacy_client_gets_no_session_and_each_request_stands_alone(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    headers = {**ACCEPT, "X-API-Key": await _key(nodes.url, owner)}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "old", "version": "0"}},
    }
    whoami = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    answered = set()
    async with client(nodes.url) as http:
        opened = await http.post("/mcp", json=initialize, headers=headers)
        assert opened.status_code == 200, opened.text
        assert opened.json()["result"]["protocolVersion"] == LEGACY
        assert "mcp-session-id" not in opened.headers  # nothing a node would have to find again
        answered.add(opened.headers[NODE_HEADER])
        on = {**headers, "mcp-protocol-version": LEGACY}
        for _ in range(2 * len(nodes.nodes)):
            called = await http.post("/mcp", json=whoami, headers=on)
            assert called.status_code == 200, called.text
            assert called.json()["result"]["isError"] is False
            assert called.json()["result"]["structuredContent"]["tenant"]["id"] == owner.tenant_id
            answered.add(called.headers[NODE_HEADER])
        # a session id from elsewhere (a node that held sessions before) is not looked up: no "session not found"
        stale = await http.post("/mcp", json=whoami, headers={**on, "mcp-session-id": "0" * 32})
        assert stale.status_code == 200, stale.text
        # each request is authenticated on its own: without the key, nothing
        bare = await http.post("/mcp", json=whoami, headers={**ACCEPT, "mcp-protocol-version": LEGACY})
        assert bare.status_code == 401, bare.text
        # and there is no stream to hold open nor session to end
        streamed = await asyncio.wait_for(http.get("/mcp", headers={**on, "Accept": "text/event-stream"}), 30)
        assert streamed.status_code == 405, streamed.text
        ended = await asyncio.wait_for(http.delete("/mcp", headers=on), 30)
        assert ended.status_code == 405, ended.text
    assert answered == {n.name for n in nodes.nodes}


async def test_another_tenants_installation_is_not_found_over_mcp_on_any_node(nodes: Cluster) -> None:
    owner, intruder = await new_owner(nodes.url), await new_owner(nodes.url)
    installation = await _installed_time(nodes.url, owner)
    answered: list[str] = []
    async with (
        _recording(await _key(nodes.url, intruder), answered) as http,
        Client(streamable_http_client(f"{nodes.url}/mcp", http_client=http), mode="2026-07-28") as session,
    ):
        for _ in range(len(nodes.nodes)):
            called = await session.call_tool(
                "call_installation_tool",
                {"installation_id": installation, "name": "get_current_time", "arguments": {"timezone": "UTC"}},
            )
            assert called.is_error
            assert called.structured_content is not None, called
            assert called.structured_content["code"] == "installation_not_found", called
    assert set(answered) == {n.name for n in nodes.nodes}, answered
