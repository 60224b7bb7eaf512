"""Project tools against their REST twins: same use cases, same data; domain errors as tool errors
with the same code; scopes and tiers decide which project tools a key sees."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.drivers.mcp.helpers import PROJECT_TOOLS, Site, bearer, mcp_session, texts


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    assert json.loads(texts(result)[0]) == result.structured_content
    return result.structured_content


async def test_project_tools_return_what_rest_returns(site: Site) -> None:
    token = site.owner_token
    async with mcp_session(site.mcp_url, bearer(token)) as session, site.http(token) as http:
        created = _data(await session.call_tool("create_project", {"name": "Loja", "description": "shop"}))
        assert (await http.get(f"/api/projetos/{created['id']}")).json() == created
        second = (await http.post("/api/projetos", json={"name": "Blog"})).json()

        for arguments in ({}, {"limite": 1, "offset": 1}, {"name": "loj"}, {"status": "active"}):
            listed = _data(await session.call_tool("list_projects", arguments))
            assert listed == (await http.get("/api/projetos", params=arguments)).json()
        assert [p["id"] for p in _data(await session.call_tool("list_projects", {}))["items"]] == [
            second["id"],
            created["id"],
        ]

        got = _data(await session.call_tool("get_project", {"project_id": second["id"]}))
        assert got == second
        updated = _data(await session.call_tool("update_project", {"project_id": second["id"], "status": "archived"}))
        assert updated == (await http.get(f"/api/projetos/{second['id']}")).json()
        assert updated["status"] == "archived"
        deleted = _data(await session.call_tool("delete_project", {"project_id": second["id"]}))
        assert deleted == {"deleted": second["id"]}
        assert (await http.get(f"/api/projetos/{second['id']}")).status_code == 404

        catalog = _data(await session.call_tool("list_catalog", {}))
        assert catalog == (await http.get("/api/projetos/catalogo")).json()


async def test_resource_and_health_tools_return_what_rest_returns(site: Site) -> None:
    token = site.owner_token
    async with mcp_session(site.mcp_url, bearer(token)) as session, site.http(token) as http:
        pid = (await http.post("/api/projetos", json={"name": "infra"})).json()["id"]
        made = _data(
            await session.call_tool(
                "create_resource", {"project_id": pid, "type": "postgres_database", "name": "db", "config": {}}
            )
        )
        assert made["status"] == "pending"
        for _ in range(100):
            got = _data(await session.call_tool("get_resource", {"resource_id": made["id"]}))
            if got["status"] == "running":
                break
            await asyncio.sleep(0.05)
        assert got == (await http.get(f"/api/recursos/{made['id']}")).json()
        assert got["status"] == "running"
        listed = _data(await session.call_tool("list_resources", {"project_id": pid}))
        assert listed == (await http.get(f"/api/projetos/{pid}/recursos")).json()

        renamed = _data(await session.call_tool("update_resource", {"resource_id": made["id"], "name": "main-db"}))
        assert renamed == (await http.get(f"/api/recursos/{made['id']}")).json()

        health = _data(await session.call_tool("project_health", {"project_id": pid}))
        rest_health = (await http.get(f"/api/projetos/{pid}/saude")).json()
        tenant = _data(await session.call_tool("tenant_health", {}))
        rest_tenant = (await http.get("/api/tenants/atual/saude")).json()
        for a, b in ((health, rest_health), (tenant, rest_tenant)):
            assert _without_times(a) == _without_times(b)
        assert health["status"] == "ok"

        deleting = _data(await session.call_tool("delete_resource", {"resource_id": made["id"]}))
        assert deleting["status"] == "deleting"


def _without_times(report: dict[str, Any]) -> dict[str, Any]:
    items = [{k: v for k, v in i.items() if k not in ("checked_at", "latency_ms")} for i in report["items"]]
    return {**{k: v for k, v in report.items() if k != "checked_at"}, "items": items}


async def test_domain_errors_are_tool_errors_with_the_rest_code(site: Site) -> None:
    from tests.drivers.mcp.helpers import new_site

    other = await new_site(site.server)
    async with site.http(other.owner_token) as http:
        theirs = (await http.post("/api/projetos", json={"name": "theirs"})).json()
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session, site.http(site.owner_token) as http:
        cases = [
            ("get_project", {"project_id": theirs["id"]}, f"/api/projetos/{theirs['id']}", "project_not_found"),
            ("list_resources", {"project_id": theirs["id"]}, f"/api/projetos/{theirs['id']}/recursos", None),
            ("get_resource", {"resource_id": "01nosuchresource"}, "/api/recursos/01nosuchresource", None),
        ]
        for tool, arguments, path, code in cases:
            result = await session.call_tool(tool, arguments)
            rest = (await http.get(path)).json()
            assert result.is_error
            assert result.structured_content["code"] == rest["code"]
            assert texts(result)[0] == rest["detail"]
            if code:
                assert rest["code"] == code
        pid = (await http.post("/api/projetos", json={"name": "mine"})).json()["id"]
        bad = await session.call_tool(
            "create_resource", {"project_id": pid, "type": "web_app", "name": "w", "config": {"image": "i", "port": 0}}
        )
        assert bad.is_error
        assert bad.structured_content["code"] == "invalid_config"
        assert texts(bad)[0].startswith("config.port:")
        for i in range(2):
            _data(await session.call_tool("create_project", {"name": f"more {i}"}))
        quota = await session.call_tool("create_project", {"name": "too many"})
        assert quota.is_error
        assert quota.structured_content["code"] == "subscription_required"
        assert "projects" in texts(quota)[0]


async def test_scopes_and_tier_decide_which_project_tools_a_key_sees(site: Site) -> None:
    from tesserra_core.domain.identity import Tier

    reader = await site.key("projects:read")
    basic_writer = await site.key("projects:read", "projects:write")
    writer = await site.key("projects:read", "projects:write", "tenant:read", tier=Tier.STANDARD)
    reads = {"list_projects", "get_project", "list_resources", "get_resource", "project_health", "list_catalog"}
    writes = {"create_project", "update_project", "delete_project", "create_resource", "update_resource"}
    writes |= {"delete_resource"}
    seen = {}
    for name, minted in (("reader", reader), ("basic_writer", basic_writer), ("writer", writer)):
        async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}) as session:
            seen[name] = {tool.name for tool in (await session.list_tools()).tools} & PROJECT_TOOLS
            if name == "reader":
                refused = await session.call_tool("create_project", {"name": "nope"})
                assert refused.is_error
                assert texts(refused)[0] == "Unknown tool: create_project"
    assert seen["reader"] == reads
    assert seen["basic_writer"] == reads  # writes need a standard-tier key
    assert seen["writer"] == reads | writes | {"tenant_health"}
