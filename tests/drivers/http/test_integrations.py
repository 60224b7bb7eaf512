"""/api/integrations over real sockets: the canonical MCP client configuration, sync notifications,
and the named alias /api/integrations/tessaract (the same use case with a fixed instance id)."""

from __future__ import annotations

import json

import httpx

from tests.drivers.http.conftest import Account, Accounts, KeyMinter, assert_error
from tests.support import LiveServer

PLACEHOLDER = "<YOUR_TESSERRA_API_KEY>"


async def test_client_configuration_for_this_server(
    server: LiveServer, client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner, scopes=["profile:read"])
    response = await client.get("/api/integrations/client", headers={"X-Tesserra-Api-Key": key})
    assert response.status_code == 200, response.text
    body = response.json()
    url = f"{server.url}/mcp"
    assert body["instance_id"] == "default"
    assert body["mcp_url"] == url
    assert body["transport"] == "streamable-http"
    assert body["auth"]["header"] == "X-Tesserra-Api-Key"
    assert body["last_sync"] is None
    snippets = body["snippets"]
    assert set(snippets) >= {"claude_desktop", "claude_code", "cursor", "vscode", "generic"}
    assert snippets["claude_code"]["mcpServers"]["tesserra"] == {
        "type": "http",
        "url": url,
        "headers": {"X-Tesserra-Api-Key": PLACEHOLDER},
    }
    assert snippets["vscode"]["servers"]["tesserra"]["type"] == "http"
    assert snippets["vscode"]["servers"]["tesserra"]["url"] == url
    assert snippets["cursor"]["mcpServers"]["tesserra"]["url"] == url
    assert url in json.dumps(snippets["claude_desktop"])
    assert key not in response.text
    assert owner.access not in response.text
    assert key.split("_")[1] not in response.text  # not even the key's prefix


async def test_the_snippet_works_with_a_real_key(
    server: LiveServer, client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    """The generic snippet, with the placeholder replaced by a real key, opens an MCP session."""
    owner = await accounts.tenant_owner()
    key = await mint_key(owner, scopes=["profile:read"])
    generic = (await client.get("/api/integrations/client", headers=owner.bearer)).json()["snippets"]["generic"]
    headers = {name: value.replace(PLACEHOLDER, key) for name, value in generic["headers"].items()}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    response = await client.post(
        generic["url"], json=initialize, headers={**headers, "Accept": "application/json, text/event-stream"}
    )
    assert response.status_code == 200, response.text


async def test_instance_ids(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    named = await client.get("/api/integrations/client", params={"instanceId": "my-laptop.1"}, headers=owner.bearer)
    assert named.json()["instance_id"] == "my-laptop.1"
    assert "tesserra-my-laptop.1" in named.json()["snippets"]["cursor"]["mcpServers"]
    for bad in ("../etc", "a b", "-x", "x" * 65):
        response = await client.get("/api/integrations/client", params={"instanceId": bad}, headers=owner.bearer)
        assert_error(response, 400)
    assert_error(await client.get("/api/integrations/client"), 401)


async def test_sync_is_recorded_and_shown_per_tenant_and_instance(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    other = await accounts.tenant_owner("Other")
    body = {"instanceId": "desk", "client": "claude-desktop", "clientVersion": "0.9.1", "toolCount": 4}
    synced = await client.post("/api/integrations/client/sync", json=body, headers=owner.bearer)
    assert synced.status_code == 201, synced.text
    record = synced.json()
    assert (record["instance_id"], record["client"], record["tool_count"], record["status"]) == (
        "desk",
        "claude-desktop",
        4,
        "ok",
    )
    assert record["user_id"] == owner.user_id

    shown = (await client.get("/api/integrations/client?instanceId=desk", headers=owner.bearer)).json()
    assert shown["last_sync"] == record
    assert shown["sync_count"] == 1
    default = (await client.get("/api/integrations/client", headers=owner.bearer)).json()
    assert default["last_sync"] is None
    theirs = (await client.get("/api/integrations/client?instanceId=desk", headers=other.bearer)).json()
    assert (theirs["last_sync"], theirs["sync_count"]) == (None, 0)


async def test_sync_validation(client: httpx.AsyncClient, shared_owner: Account) -> None:
    headers = shared_owner.bearer
    for body, status in [
        ({}, 400),
        ({"client": ""}, 400),
        ({"client": "x", "toolCount": -1}, 400),
        ({"client": "x", "status": "weird"}, 400),
        ({"client": "x", "unknown": 1}, 400),
        ({"client": "x", "instanceId": "../../"}, 400),
    ]:
        assert_error(await client.post("/api/integrations/client/sync", json=body, headers=headers), status)


async def test_tessaract_alias_is_the_same_use_case_with_a_fixed_instance(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    alias = (await client.get("/api/integrations/tessaract", headers=owner.bearer)).json()
    canonical = (await client.get("/api/integrations/client?instanceId=tessaract", headers=owner.bearer)).json()
    assert alias == canonical
    assert alias["instance_id"] == "tessaract"

    synced = await client.post(
        "/api/integrations/tessaract/sync",
        json={"client": "tessaract", "instanceId": "elsewhere"},
        headers=owner.bearer,
    )
    assert synced.status_code == 201, synced.text
    assert synced.json()["instance_id"] == "tessaract"
    after = (await client.get("/api/integrations/client?instanceId=tessaract", headers=owner.bearer)).json()
    assert after["last_sync"] == synced.json()
    elsewhere = (await client.get("/api/integrations/client?instanceId=elsewhere", headers=owner.bearer)).json()
    assert elsewhere["sync_count"] == 0


async def test_sync_replays_with_an_idempotency_key(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    headers = {**owner.bearer, "Idempotency-Key": "sync-1"}
    first = await client.post("/api/integrations/client/sync", json={"client": "cursor"}, headers=headers)
    again = await client.post("/api/integrations/client/sync", json={"client": "cursor"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    shown = (await client.get("/api/integrations/client", headers=owner.bearer)).json()
    assert shown["sync_count"] == 1
