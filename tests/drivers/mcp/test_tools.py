"""The tool-platform tools over /mcp: tier and scope rules, and the same data as their REST twins."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp.types import CallToolResult

from tesserra_core.domain.identity import Tier
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.drivers.mcp.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server, Site, bearer, mcp_session, new_site, texts
from tests.servers.launchers import CATALOG, time_server, write_launchers  # noqa: F401 (time_server: a fixture)

pytestmark = pytest.mark.usefixtures("time_server")

READ_TOOLS = {"search_marketplace", "get_tool_details", "list_installations", "list_containers", "get_container"}
WRITE_TOOLS = {"install_tool", "call_installation_tool", "container_action"}
PROBE = "test.tesserra-probe"
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
async def tools_mcp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("mcp-tools")
    scripts = write_launchers(tmp / "bin")
    async with support.database_url("sqlite", tmp) as url:
        settings = support.test_settings(tmp, url, catalog_source=str(CATALOG), tool_script_dirs=scripts)
        async with support.live_server(settings) as live:
            await live.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            pair = await live.uc.sessions.login(Credentials(ADMIN_EMAIL, ADMIN_PASSWORD))
            yield Server(live.url, live.uc, settings, await live.uc.authenticate(pair.access_token))


@pytest.fixture
async def tsite(tools_mcp: Server) -> Site:
    return await new_site(tools_mcp)


@pytest.mark.parametrize(
    ("scopes", "tier", "visible"),
    [
        (["tools:read"], Tier.BASIC, READ_TOOLS),
        (["tools:read", "tools:write"], Tier.BASIC, READ_TOOLS),  # a basic key may not install or call tools
        (["tools:read", "tools:write"], Tier.STANDARD, READ_TOOLS | WRITE_TOOLS),
        (["tools:write"], Tier.STANDARD, WRITE_TOOLS),
    ],
)
async def test_tiers_and_scopes_decide_which_tool_tools_exist(
    tsite: Site, scopes: list[str], tier: Tier, visible: set[str]
) -> None:
    minted = await tsite.key(*scopes, tier=tier)
    async with mcp_session(tsite.mcp_url, {"X-API-Key": minted.key}) as session:
        listed = {t.name for t in (await session.list_tools()).tools} & (READ_TOOLS | WRITE_TOOLS)
        refused = await session.call_tool("install_tool", {"tool_id": PROBE})
    assert listed == visible
    if "install_tool" not in visible:
        assert refused.is_error
        assert texts(refused) == ["Unknown tool: install_tool"]


async def test_install_and_call_over_mcp_return_what_rest_returns(tsite: Site) -> None:
    minted = await tsite.key("tools:read", "tools:write", tier=Tier.STANDARD)
    async with mcp_session(tsite.mcp_url, {"X-API-Key": minted.key}) as session:
        found = await session.call_tool("search_marketplace", {"query": "probe"})
        assert [t["id"] for t in found.structured_content["items"]] == [PROBE]
        installed = await session.call_tool("install_tool", {"tool_id": PROBE, "config": {"PROBE_TOKEN": "x"}})
        assert not installed.is_error, installed.content
        installation_id = installed.structured_content["id"]
        for _ in range(600):
            listed = await session.call_tool("list_installations", {})
            status = listed.structured_content["items"][0]["status"]
            if status != "installing":
                break
            await asyncio.sleep(0.05)
        assert status == "ready"
        called = await session.call_tool(
            "call_installation_tool",
            {"installation_id": installation_id, "name": "echo", "arguments": {"text": "twin"}},
        )
        missing = await session.call_tool(
            "call_installation_tool", {"installation_id": "nope", "name": "echo", "arguments": {}}
        )
        containers = await session.call_tool("list_containers", {})
        details = await session.call_tool("get_tool_details", {"tool_id": PROBE})
    async with tsite.http(minted.key) as http:
        rest_call = await http.post(
            f"/api/installations/{installation_id}/tools/call", json={"name": "echo", "arguments": {"text": "twin"}}
        )
        rest_containers = await http.get("/api/containers")
        rest_details = await http.get(f"/api/marketplace/tools/{PROBE}")
        rest_listed = await http.get("/api/installations")

    def without_duration(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "duration_ms"}

    assert not called.is_error
    assert without_duration(called.structured_content) == without_duration(rest_call.json())
    assert containers.structured_content == rest_containers.json()
    assert details.structured_content == rest_details.json()
    assert listed.structured_content == rest_listed.json()
    assert missing.is_error
    assert missing.structured_content["code"] == "installation_not_found"


async def test_a_jwt_owner_sees_every_tool_tool(tsite: Site) -> None:
    async with mcp_session(tsite.mcp_url, bearer(tsite.owner_token)) as session:
        listed = {t.name for t in (await session.list_tools()).tools}
    assert listed >= READ_TOOLS | WRITE_TOOLS


def _nested(depth: int, marker: str) -> str:
    """Tool arguments nesting ``depth`` containers (the object counting as 1) around ``marker``, as JSON text."""
    return '{"value": ' + "[" * (depth - 1) + json.dumps(marker) + "]" * (depth - 1) + "}"


async def test_arguments_too_deep_or_large_are_refused_and_never_reach_the_tool_server(tsite: Site) -> None:
    """Over /mcp as over REST: the core refuses them (a tool error with the code) before forwarding;
    past what the MCP SDK's JSON parser takes, it refuses the request itself (HTTP 400)."""
    minted = await tsite.key("tools:read", "tools:write", tier=Tier.STANDARD)
    async with mcp_session(tsite.mcp_url, {"X-API-Key": minted.key}) as session:
        installed = await session.call_tool("install_tool", {"tool_id": PROBE, "config": {"PROBE_TOKEN": "x"}})
        installation_id = installed.structured_content["id"]
        for _ in range(600):
            listed = await session.call_tool("list_installations", {})
            if listed.structured_content["items"][0]["status"] != "installing":
                break
            await asyncio.sleep(0.05)

        async def call(name: str, arguments: str | dict[str, Any]) -> CallToolResult:
            return await session.call_tool(
                "call_installation_tool", {"installation_id": installation_id, "name": name, "arguments": arguments}
            )

        pid = (await call("pid", {})).structured_content["structured_content"]

    marker = f"poison-{uuid.uuid4().hex}"
    headers = {
        **bearer(minted.key),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "call_installation_tool",
    }
    envelope = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    async with tsite.http() as http:
        for depth in (33, 200, 255, 256, 300, 999):
            params = {"name": "call_installation_tool", "_meta": envelope}
            params["arguments"] = {"installation_id": installation_id, "name": "keep", "arguments": "ARGUMENTS"}
            request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            body = json.dumps(request).replace('"ARGUMENTS"', _nested(depth, marker))
            started = time.perf_counter()
            answer = await http.post("/mcp", content=body, headers=headers)
            assert time.perf_counter() - started < 1.0, depth
            if depth < 999:
                # Refused by the core: a tool error with the code, as REST's 400.
                assert answer.status_code == 200, (depth, answer.text)
                result = answer.json()["result"]
                assert result["isError"] is True, (depth, result)
                assert result["structuredContent"]["code"] == "arguments_too_deep", (depth, result)
            else:
                # Past what the MCP SDK's JSON parser takes, it refuses the request itself.
                assert answer.status_code == 400, (depth, answer.text)
                assert answer.json()["error"]["code"] == -32700
    async with mcp_session(tsite.mcp_url, {"X-API-Key": minted.key}) as session:

        async def call2(name: str, arguments: dict[str, Any]) -> Any:
            return await session.call_tool(
                "call_installation_tool", {"installation_id": installation_id, "name": name, "arguments": arguments}
            )

        for arguments in ({"value": [0] * 10_001}, {"value": marker + "x" * (256 * 1024)}):
            refused = await call2("keep", arguments)
            assert refused.is_error
            assert refused.structured_content["code"] == "arguments_too_large"
        seen = await call2("received", {"marker": marker})
        again = await call2("pid", {})
    assert not seen.is_error, seen.content
    assert seen.structured_content["structured_content"] == {"result": 1}  # this very question
    assert again.structured_content["structured_content"] == pid
