"""Domain errors become MCP tool errors with the same message and code; argument errors are tool
errors; a credential that dies mid-session is refused on the session's next request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tesserra_adapters.bootstrap import running
from tesserra_core.domain.identity import AuthMethod, Principal, Role, Scope, Tier
from tesserra_core.errors import Unauthenticated
from tesserra_mcp.server import build_server
from tests.drivers.mcp.helpers import ERROR_FIELDS, Site, bearer, mcp_session, texts


def _sans_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"limite": 0}, "limite"), ({"limite": 501}, "limite"), ({"offset": -1}, "offset"), ({"limite": "x"}, "limite")],
)
async def test_bad_arguments_are_tool_errors_as_the_rest_twin_refuses_them(
    site: Site, arguments: dict[str, Any], field: str
) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        result = await session.call_tool("list_api_keys", arguments)
        still_fine = await session.call_tool("list_api_keys", {"limite": 1})
    async with site.http(site.owner_token) as http:
        rest = await http.get("/api/auth/keys", params=arguments)
    assert result.is_error
    assert field in texts(result)[0]
    assert rest.status_code == 400
    assert not still_fine.is_error


async def test_a_key_revoked_mid_session_is_refused_on_the_next_request(site: Site) -> None:
    minted = await site.key("profile:read")
    statuses: list[int] = []
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}, statuses) as session:
        assert not (await session.call_tool("whoami", {})).is_error
        await site.uc.api_keys.revoke(site.owner, minted.api_key.id)
        seen = len(statuses)
        with pytest.raises(MCPError):
            await session.call_tool("whoami", {})
        assert statuses[seen:] == [401]
    async with site.http(minted.key) as http:
        response = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


async def test_a_revocation_by_another_worker_reaches_the_open_session(site: Site) -> None:
    """Revoked through a second facade on the same database (as another worker would): the server's
    revocation watcher drops its cached copy of the key within a poll or two."""
    minted = await site.key("profile:read")
    statuses: list[int] = []
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}, statuses) as session:
        assert not (await session.call_tool("whoami", {})).is_error
        async with running(site.server.settings) as other_worker:
            await other_worker.api_keys.revoke(site.owner, minted.api_key.id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        refused_after = None
        started = loop.time()
        while loop.time() < deadline:
            try:
                await session.call_tool("whoami", {})
            except MCPError:
                refused_after = loop.time() - started
                break
            await asyncio.sleep(0.1)
        assert refused_after is not None, "the revoked key still worked after 5 s"
        assert statuses[-1] == 401


async def test_a_suspended_tenant_is_refused_with_403_like_the_rest_api(site: Site) -> None:
    minted = await site.key("profile:read")
    statuses: list[int] = []
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}, statuses) as session:
        assert not (await session.call_tool("whoami", {})).is_error
        await site.uc.tenants.suspend(site.server.admin, site.tenant.id)
        with pytest.raises(MCPError):
            await session.call_tool("whoami", {})
        assert statuses[-1] == 403
    async with site.http(minted.key) as http:
        mcp = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        rest = await http.get("/api/auth/me")
    assert mcp.status_code == rest.status_code == 403
    assert set(mcp.json()) == ERROR_FIELDS
    assert mcp.json()["code"] == "tenant_suspended"
    assert _sans_request_id(mcp.json()) == _sans_request_id(rest.json())


async def test_a_domain_error_in_a_tool_call_is_a_tool_error_with_its_message_and_code(site: Site) -> None:
    """The stdio shape (the caller re-checked on every call), in process: once the tenant is
    suspended, the call is a tool error carrying the core error's message and code."""
    minted = await site.key("profile:read")
    server = build_server(site.uc, stdio_actor=lambda: site.uc.authenticate(minted.key))
    async with Client(server) as client:
        assert not (await client.call_tool("whoami", {})).is_error
        await site.uc.tenants.suspend(site.server.admin, site.tenant.id)
        result = await client.call_tool("whoami", {})
    async with site.http(minted.key) as http:
        rest = await http.get("/api/auth/me")
    assert result.is_error
    assert set(result.structured_content) == ERROR_FIELDS
    assert result.structured_content["code"] == "tenant_suspended"
    assert texts(result) == ["this tenant is suspended"]
    assert _sans_request_id(result.structured_content) == _sans_request_id(rest.json())


async def test_an_error_raised_by_the_use_case_itself_keeps_its_message_and_code(site: Site) -> None:
    """Past the visibility check, inside the tool: `me` for an account that does not exist raises
    Unauthenticated(account_inactive), and the tool answers exactly that."""
    ghost = Principal(
        user_id="01nosuchuser0000000000000",
        tenant_id=site.tenant.id,
        role=Role.OWNER,
        is_platform_admin=False,
        scopes=frozenset({Scope.PROFILE_READ}),
        tier=Tier.BASIC,
        method=AuthMethod.API_KEY,
        credential_id="01nosuchkey00000000000000",
    )
    with pytest.raises(Unauthenticated) as raised:
        await site.uc.sessions.me(ghost)

    async def actor() -> Principal:
        return ghost

    async with Client(build_server(site.uc, stdio_actor=actor)) as client:
        result = await client.call_tool("whoami", {})
    assert result.is_error
    assert set(result.structured_content) == ERROR_FIELDS
    assert result.structured_content["success"] is False
    assert result.structured_content["code"] == raised.value.code == "account_inactive"
    assert result.structured_content["detail"] == result.structured_content["error"] == raised.value.message
    assert texts(result) == [raised.value.message]


async def test_without_a_caller_the_server_refuses_every_call(site: Site) -> None:
    """build_server with neither an HTTP request nor a stdio key: nothing is callable."""
    async with Client(build_server(site.uc)) as client:
        result = await client.call_tool("whoami", {})
    assert result.is_error
    assert result.structured_content["code"] == "missing_credentials"
