"""The tool-platform tools over /mcp: tier and scope rules, and the same data as their REST twins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tesserra_core.domain.identity import Tier
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.drivers.mcp.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server, Site, bearer, mcp_session, new_site
from tests.servers.launchers import CATALOG, time_server, write_launchers  # noqa: F401 (time_server: a fixture)

pytestmark = pytest.mark.usefixtures("time_server")

READ_TOOLS = {"search_marketplace", "get_tool_details", "list_installations", "list_containers", "get_container"}
WRITE_TOOLS = {"install_tool", "call_installation_tool", "container_action"}
PROBE = "test.tesserra-probe"


@pytest.fixture(scope="module")
async def tools_mcp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("mcp-tools")
    scripts = write_launchers(tmp / "bin")
    async with support.database_url("sqlite", tmp) as url:
        settings = support.test_settings(tmp, url, catalog_source=str(CATALOG), tool_script_dirs=scripts)
        async with support.live_server(settings) as live:
            await live.uc.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            pair = await live.uc.login(Credentials(ADMIN_EMAIL, ADMIN_PASSWORD))
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
        assert [b.text for b in refused.content] == ["Unknown tool: install_tool"]


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
