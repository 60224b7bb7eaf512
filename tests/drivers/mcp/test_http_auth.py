"""/mcp over streamable HTTP: who may connect, and what the refusals look like."""

from __future__ import annotations

import json

import pytest

from tesserra_core.domain.identity import Tier
from tesserra_core.usecases.api_keys import NewApiKey
from tests.drivers.mcp.helpers import ERROR_FIELDS, Site, mcp_session

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "tesserra-tests", "version": "0"},
    },
}


async def _credential(site: Site, kind: str) -> str | None:
    if kind == "none":
        return None
    if kind == "jwt":
        return site.owner_token
    if kind == "garbage":
        return "not-a-credential"
    minted = await site.key("profile:read")
    if kind == "wrong_secret":
        prefix = minted.key.rsplit("_", 1)[0]
        return f"{prefix}_{'x' * 43}"
    if kind == "revoked":
        await site.uc.api_keys.revoke(site.owner, minted.api_key.id)
    return minted.key


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("none", 401, "missing_credentials"),
        ("garbage", 401, "invalid_credentials"),
        ("wrong_secret", 401, "invalid_api_key"),
        ("revoked", 401, "api_key_revoked"),
        ("key", 200, None),
        ("jwt", 200, None),
    ],
)
async def test_initialize_needs_a_live_credential(site: Site, kind: str, status: int, code: str | None) -> None:
    credential = await _credential(site, kind)
    async with site.http(credential) as http:
        response = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == status, response.text
    body = response.json()
    if code is None:
        assert body["result"]["serverInfo"]["name"] == "tesserra"
        return
    assert set(body) == ERROR_FIELDS
    assert body["success"] is False
    assert body["code"] == code
    assert body["detail"] == body["error"] != ""
    assert response.headers["www-authenticate"] == 'Bearer realm="tesserra"'
    assert response.headers["content-type"] == "application/json"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_the_refusal_echoes_the_callers_request_id(site: Site) -> None:
    async with site.http() as http:
        response = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "X-Request-Id": "trace-42"})
    assert response.status_code == 401
    assert response.json()["request_id"] == "trace-42" == response.headers["x-request-id"]


async def test_the_refusal_reads_like_the_rest_apis(site: Site) -> None:
    """Same credential, same refusal on /mcp and on a REST route (bar the request id)."""
    credential = await _credential(site, "revoked")
    async with site.http(credential) as http:
        mcp = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        rest = await http.get("/api/auth/me")
    assert mcp.status_code == rest.status_code == 401
    assert {k: v for k, v in mcp.json().items() if k != "request_id"} == {
        k: v for k, v in rest.json().items() if k != "request_id"
    }


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key", "X-Tesserra-Api-Key"])
async def test_a_key_works_in_every_header_form(site: Site, header: str) -> None:
    minted = await site.key("profile:read")
    value = f"Bearer {minted.key}" if header == "Authorization" else minted.key
    async with mcp_session(site.mcp_url, {header: value}) as session:
        result = await session.call_tool("whoami", {})
    assert not result.is_error
    assert result.structured_content["auth_method"] == "api_key"
    assert result.structured_content["credential_id"] == minted.api_key.id


async def test_a_jwt_access_token_opens_a_session_as_its_user(site: Site) -> None:
    async with mcp_session(site.mcp_url, {"Authorization": f"Bearer {site.owner_token}"}) as session:
        tools = {t.name for t in (await session.list_tools()).tools}
        result = await session.call_tool("whoami", {})
    assert {"whoami", "list_api_keys", "service_status"} <= tools
    assert not result.is_error
    me = result.structured_content
    assert me["auth_method"] == "jwt"
    assert me["credential_id"] == site.owner.credential_id
    assert me["user"]["id"] == site.owner.user_id


@pytest.mark.parametrize(
    "headers",
    [
        [("X-API-Key", "KEY"), ("X-Tesserra-Api-Key", "GARBAGE")],
        [("X-Tesserra-Api-Key", "GARBAGE"), ("X-API-Key", "KEY")],
        [("Authorization", "Bearer KEY"), ("X-API-Key", "GARBAGE")],
        [("X-Tesserra-Api-Key", "GARBAGE"), ("Authorization", "Bearer KEY")],
        [("X-API-Key", "KEY"), ("X-API-Key", "GARBAGE")],
        [("Authorization", "Bearer KEY"), ("Authorization", "Bearer KEY")],
    ],
    ids=["api+tesserra", "tesserra+api", "bearer+api", "tesserra+bearer", "api-twice", "bearer-twice"],
)
async def test_more_than_one_credential_is_400_on_mcp_as_on_rest(site: Site, headers: list[tuple[str, str]]) -> None:
    key = (await site.key("profile:read")).key
    garbage = "tessera_garbage_" + "x" * 40
    sent = [(name, value.replace("GARBAGE", garbage).replace("KEY", key)) for name, value in headers]
    async with site.http() as http:
        mcp = await http.post("/mcp", json=INITIALIZE, headers=[*MCP_HEADERS.items(), *sent])
        rest = await http.get("/api/auth/me", headers=sent)
    assert mcp.status_code == rest.status_code == 400, mcp.text
    body = mcp.json()
    assert set(body) == ERROR_FIELDS
    assert body["code"] == "ambiguous_credentials"
    for name, _ in headers:
        assert name in body["detail"]
    assert {k: v for k, v in body.items() if k != "request_id"} == {
        k: v for k, v in rest.json().items() if k != "request_id"
    }


async def test_x_user_id_twice_is_400_on_mcp(site: Site) -> None:
    minted = await site.uc.api_keys.generate(site.server.admin, NewApiKey(name="admin", tier=Tier.ADMIN))
    key = minted.key
    headers = [*MCP_HEADERS.items(), ("X-API-Key", key), ("X-User-Id", "alice"), ("X-User-Id", "mallory")]
    async with site.http() as http:
        response = await http.post("/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "ambiguous_user_id"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_json_rpc_body_not_declared_as_json_is_refused(site: Site, content_type: str) -> None:
    """The MCP SDK's transport security refuses a body not declared application/json (400, its own
    text), before any session or tool sees it; REST routes answer 415 (tests/drivers/http/test_content_type.py)."""
    minted = await site.key("profile:read")
    headers = {**MCP_HEADERS, "Content-Type": content_type}
    async with site.http(minted.key) as http:
        response = await http.post("/mcp", content=json.dumps(INITIALIZE).encode(), headers=headers)
    assert response.status_code == 400, response.text
    assert "Content-Type" in response.text
    assert "mcp-session-id" not in response.headers
