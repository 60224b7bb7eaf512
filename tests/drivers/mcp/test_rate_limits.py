"""The console rate limit holds over MCP too: the twins of /projetos and /dominios count against
the same rule, on the same per-token counter, and refuse with the same code as REST."""

from __future__ import annotations

from tesserra_core.usecases.guards import CONSOLE, DEFAULT_RULES
from tests.drivers.mcp.helpers import ERROR_FIELDS, Site, bearer, mcp_session, texts


async def test_project_tools_past_the_console_limit_are_refused_as_rest_refuses_the_route(site: Site) -> None:
    minted = await site.key("projects:read")
    limit = DEFAULT_RULES[CONSOLE].limit
    async with mcp_session(site.mcp_url, bearer(minted.key)) as session:
        for _ in range(limit):
            assert not (await session.call_tool("list_projects", {})).is_error
        refused = await session.call_tool("get_project", {"project_id": "whatever"})
        catalog = await session.call_tool("list_catalog", {})  # public over REST: no limit there either
    assert refused.is_error
    assert refused.structured_content is not None
    assert set(refused.structured_content) == ERROR_FIELDS
    assert refused.structured_content["code"] == "rate_limited"
    assert texts(refused) == ["rate limit exceeded: retry later"]
    assert not catalog.is_error
    async with site.http(minted.key) as http:
        rest = await http.get("/api/projetos")  # the same token's counter: full
    assert rest.status_code == 429
    assert rest.json()["code"] == refused.structured_content["code"]
    assert rest.json()["detail"] == refused.structured_content["detail"]


async def test_domain_tools_share_the_counter_of_the_domain_routes(site: Site) -> None:
    minted = await site.key("domains:read")
    limit = DEFAULT_RULES[CONSOLE].limit
    async with site.http(minted.key) as http:
        for _ in range(limit):
            assert (await http.get("/api/dominios")).status_code == 200
        rest = await http.get("/api/dominios")
    async with mcp_session(site.mcp_url, bearer(minted.key)) as session:
        refused = await session.call_tool("list_domains", {})
    assert rest.status_code == 429
    assert refused.is_error
    assert refused.structured_content is not None
    assert refused.structured_content["code"] == rest.json()["code"] == "rate_limited"


async def test_another_token_keeps_its_own_console_budget(site: Site) -> None:
    spent = await site.key("projects:read", name="spent")
    fresh = await site.key("projects:read", name="fresh")
    async with site.http(spent.key) as http:
        for _ in range(DEFAULT_RULES[CONSOLE].limit):
            await http.get("/api/projetos")
    async with mcp_session(site.mcp_url, bearer(fresh.key)) as session:
        assert not (await session.call_tool("list_projects", {})).is_error
