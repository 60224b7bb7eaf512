"""The tools convert their arguments with msgspec into the use cases' input Structs, the ones REST
decodes its bodies into: an input out of its bounds is refused with REST's code and message."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tesserra_core.domain.identity import Tier
from tesserra_core.domain.projects import MAX_NAME
from tests.drivers.mcp.helpers import ERROR_FIELDS, Site, bearer, mcp_session, texts


def _zone() -> str:
    return f"bounds{uuid.uuid4().hex[:10]}.com"


@pytest.mark.parametrize(
    ("tool", "path", "make"),
    [
        ("create_project", "/api/projetos", lambda: {"name": "x" * (MAX_NAME + 1)}),
        ("create_project", "/api/projetos", lambda: {"name": "   "}),
        ("create_domain", "/api/dominios", lambda: {"name": _zone(), "default_ttl": 10}),
        ("create_domain", "/api/dominios", lambda: {"name": _zone(), "default_ttl": 10**9}),
    ],
    ids=["name-too-long", "name-blank", "ttl-too-small", "ttl-too-large"],
)
async def test_an_input_out_of_bounds_answers_the_rest_code_and_message(
    site: Site, tool: str, path: str, make: Callable[[], dict[str, Any]]
) -> None:
    arguments = make()
    minted = await site.key("projects:write", "domains:write", tier=Tier.STANDARD)
    async with mcp_session(site.mcp_url, bearer(minted.key)) as session:
        result = await session.call_tool(tool, arguments)
    async with site.http(minted.key) as http:
        rest = await http.post(path, json=arguments)
    assert rest.status_code == 400, rest.text
    assert result.is_error
    over_mcp = result.structured_content
    assert over_mcp is not None
    assert set(over_mcp) == ERROR_FIELDS
    assert (over_mcp["code"], over_mcp["detail"]) == (rest.json()["code"], rest.json()["detail"])
    assert texts(result) == [rest.json()["detail"]]


async def test_an_update_out_of_bounds_answers_the_rest_code_and_message(site: Site) -> None:
    minted = await site.key("domains:write", "domains:read", tier=Tier.STANDARD)
    async with site.http(minted.key) as http:
        domain = (await http.post("/api/dominios", json={"name": _zone()})).json()
        rest = await http.patch(f"/api/dominios/{domain['id']}", json={"default_ttl": 0})
    async with mcp_session(site.mcp_url, bearer(minted.key)) as session:
        result = await session.call_tool("update_domain", {"domain_id": domain["id"], "default_ttl": 0})
    assert rest.status_code == 400, rest.text
    assert result.structured_content is not None
    assert result.structured_content["code"] == rest.json()["code"] == "validation_failed"
    assert result.structured_content["detail"] == rest.json()["detail"]


async def test_a_list_filter_out_of_bounds_answers_the_rest_code_and_message(site: Site) -> None:
    minted = await site.key("projects:read")
    name = "x" * (MAX_NAME + 1)
    async with site.http(minted.key) as http:
        rest = await http.get("/api/projetos", params={"name": name})
    async with mcp_session(site.mcp_url, bearer(minted.key)) as session:
        result = await session.call_tool("list_projects", {"name": name})
    assert rest.status_code == 400, rest.text
    assert result.structured_content is not None
    assert (result.structured_content["code"], result.structured_content["detail"]) == (
        rest.json()["code"],
        rest.json()["detail"],
    )
