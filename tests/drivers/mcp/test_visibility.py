"""Tools are filtered AND enforced by the caller's scopes and tier: what tools/list hides,
tools/call refuses exactly as it refuses a tool that does not exist."""

from __future__ import annotations

import pytest

from tesserra_core.domain.identity import AuthMethod, Principal, Role, Scope, Tier
from tesserra_core.usecases.api_keys import ListApiKeys
from tesserra_mcp.registry import ToolSpec
from tesserra_mcp.tools import ALL
from tests.drivers.mcp.helpers import (
    BASE_TOOLS,
    BILLING_TOOLS,
    CHAT_READ_TOOLS,
    CHAT_TOOLS,
    DOMAIN_TOOLS,
    INFRA_SSH_TOOLS,
    MEMBER_TOOLS,
    OWNER_BILLING_TOOLS,
    PROJECT_TOOLS,
    TOOLS,
    TOOLS_READ_TOOLS,
    Site,
    bearer,
    mcp_session,
    texts,
)


def test_the_tool_surface_is_the_one_these_tests_know() -> None:
    everything = TOOLS | PROJECT_TOOLS | DOMAIN_TOOLS | BILLING_TOOLS | INFRA_SSH_TOOLS | CHAT_TOOLS | MEMBER_TOOLS
    assert {spec.name for toolset in ALL for spec in toolset.specs} == everything


@pytest.mark.parametrize(
    ("scopes", "visible"),
    [
        (["profile:read"], {"whoami"}),
        (["keys:read"], {"list_api_keys"}),
        (["status:read"], {"service_status"}),
        (["profile:read", "keys:read"], {"whoami", "list_api_keys"}),
        (["profile:read", "keys:read", "status:read"], set(BASE_TOOLS)),
        (["tools:read"], set(TOOLS_READ_TOOLS)),
        (["profile:read", "keys:read", "status:read", "tools:read"], set(BASE_TOOLS | TOOLS_READ_TOOLS)),
        (["tenant:read", "keys:write"], set()),
        (["chat:read"], set(CHAT_READ_TOOLS)),
    ],
)
async def test_a_key_sees_and_may_call_exactly_the_tools_its_scopes_allow(
    site: Site, scopes: list[str], visible: set[str]
) -> None:
    minted = await site.key(*scopes)
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools} & (TOOLS | CHAT_TOOLS)
        called = {name: await session.call_tool(name, {}) for name in sorted(TOOLS | CHAT_TOOLS)}
    assert listed == visible
    for name, result in called.items():
        # A visible tool may still refuse {} (a required argument); a hidden one is unknown.
        refused = result.is_error and [getattr(b, "text", None) for b in result.content] == [f"Unknown tool: {name}"]
        assert refused is (name not in visible), (name, result)
        if name not in visible:
            assert result.structured_content is None
            assert texts(result) == [f"Unknown tool: {name}"]


async def test_a_hidden_tool_is_refused_exactly_as_a_missing_one(site: Site) -> None:
    minted = await site.key("profile:read")
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}) as session:
        hidden = await session.call_tool("list_api_keys", {"limite": 5})
        missing = await session.call_tool("no_such_tool", {"limite": 5})
    assert hidden.is_error
    assert missing.is_error
    assert texts(hidden) == ["Unknown tool: list_api_keys"]
    assert texts(missing) == ["Unknown tool: no_such_tool"]
    normalized = missing.model_dump()
    normalized["content"][0]["text"] = "Unknown tool: list_api_keys"
    assert hidden.model_dump() == normalized


async def test_the_same_tool_is_callable_with_a_key_that_may_see_it(site: Site) -> None:
    """The control for the refusals above: list_api_keys itself works, for a key with keys:read."""
    minted = await site.key("keys:read")
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}) as session:
        result = await session.call_tool("list_api_keys", {"limite": 5})
    assert not result.is_error
    assert [item["id"] for item in result.structured_content["items"]] == [minted.api_key.id]


async def test_a_session_owners_jwt_sees_every_tool_its_role_allows(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools}
    assert listed == TOOLS | PROJECT_TOOLS | DOMAIN_TOOLS | OWNER_BILLING_TOOLS | CHAT_TOOLS | MEMBER_TOOLS


async def test_two_sessions_with_different_keys_see_different_tools_at_once(site: Site) -> None:
    narrow = await site.key("profile:read")
    wide = await site.key("profile:read", "keys:read", "status:read", "tools:read")
    async with (
        mcp_session(site.mcp_url, {"X-API-Key": narrow.key}) as a,
        mcp_session(site.mcp_url, {"X-API-Key": wide.key}) as b,
    ):
        seen_a = {tool.name for tool in (await a.list_tools()).tools} & TOOLS
        seen_b = {tool.name for tool in (await b.list_tools()).tools} & TOOLS
        seen_a_again = {tool.name for tool in (await a.list_tools()).tools} & TOOLS
    assert seen_a == seen_a_again == {"whoami"}
    assert seen_b == set(BASE_TOOLS | TOOLS_READ_TOOLS)


def _principal(scopes: set[Scope], tier: Tier) -> Principal:
    return Principal(
        user_id="u",
        tenant_id="t",
        role=Role.MEMBER,
        is_platform_admin=False,
        scopes=frozenset(scopes),
        tier=tier,
        method=AuthMethod.API_KEY,
        credential_id="k",
    )


async def _noop() -> None:
    return None


@pytest.mark.parametrize(
    ("needs", "holds", "allowed"),
    [
        (Tier.BASIC, Tier.BASIC, True),
        (Tier.STANDARD, Tier.BASIC, False),
        (Tier.STANDARD, Tier.STANDARD, True),
        (Tier.STANDARD, Tier.ADMIN, True),
        (Tier.ADMIN, Tier.STANDARD, False),
    ],
)
def test_a_tool_needs_its_tier_as_well_as_its_scopes(needs: Tier, holds: Tier, allowed: bool) -> None:
    """Every tool today is basic, so tier filtering is checked on the registry's rule directly."""
    spec = ToolSpec(_noop, ListApiKeys, needs)
    assert spec.allows(_principal({Scope.KEYS_READ}, holds)) is allowed
    assert spec.allows(_principal(set(), holds)) is False
