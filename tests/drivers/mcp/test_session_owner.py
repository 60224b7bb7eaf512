"""A stateful MCP session (protocols before 2026-07-28) belongs to the caller that opened it.

Anyone else holding its ``mcp-session-id`` (another tenant, another user of the tenant, another
key of the same user) gets exactly what an unknown session id gets, on POST, GET and DELETE, and
the session goes on working for its owner. Stateless (2026-07-28) clients have no session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tesserra_core.domain.identity import Membership, Principal, Role, Scope, User
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials
from tests.drivers.mcp.helpers import PASSWORD, Server, Site, bearer, new_site

LEGACY = "2025-06-18"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "tesserra-tests", "version": "0"}},
}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
WHOAMI = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}


async def _member(site: Site, role: Role = Role.MEMBER) -> tuple[Principal, str]:
    """A second user of ``site``'s tenant, logged in: its principal and access token."""
    ports = site.uc.ports
    now = datetime.now(UTC)
    email = f"member-{uuid.uuid4().hex[:8]}@mcp.tesserra.test"
    user = User(
        id=ports.ids.new(),
        email=email,
        name="member",
        password_hash=await ports.hasher.hash(PASSWORD),
        is_platform_admin=False,
        active=True,
        failed_logins=0,
        locked_until=None,
        created_at=now,
    )
    async with ports.uow() as uow:
        await uow.users.add(user)
        await uow.memberships.add(Membership(tenant_id=site.tenant.id, user_id=user.id, role=role, created_at=now))
        await uow.commit()
    pair = await site.uc.sessions.login(Credentials(email, PASSWORD, tenant_id=site.tenant.id))
    return await site.uc.authenticate(pair.access_token), pair.access_token


@dataclass
class Pair:
    owner: str
    """The credential that opens the session."""
    intruder: str
    """Another caller's credential."""


async def _pair(site: Site, server: Server, kind: str) -> Pair:
    owner_key = (await site.key("profile:read", name="owner")).key
    if kind == "other_tenant":
        other = await new_site(server)
        return Pair(owner_key, (await other.key("profile:read")).key)
    if kind == "same_user_other_key":
        return Pair(owner_key, (await site.key("profile:read", name="second")).key)
    member, member_token = await _member(site)
    if kind == "same_tenant_other_user_key":
        minted = await site.uc.api_keys.generate(member, NewApiKey(name="member", scopes=[Scope.PROFILE_READ]))
        return Pair(owner_key, minted.key)
    assert kind == "same_tenant_other_user_jwt"
    return Pair(site.owner_token, member_token)


async def _open(http: httpx2.AsyncClient, credential: str) -> str:
    """A legacy session opened (initialize + initialized) by ``credential``; its id."""
    opened = await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **bearer(credential)})
    assert opened.status_code == 200, opened.text
    session_id = opened.headers["mcp-session-id"]
    ready = await http.post(
        "/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={**ACCEPT, **bearer(credential), "mcp-session-id": session_id, "mcp-protocol-version": LEGACY},
    )
    assert ready.status_code == 202, ready.text
    return session_id


def _on(session_id: str, credential: str) -> dict[str, str]:
    return {**ACCEPT, **bearer(credential), "mcp-session-id": session_id, "mcp-protocol-version": LEGACY}


async def _answers(
    http: httpx2.AsyncClient, method: str, headers: dict[str, str], body: object = None
) -> tuple[int, bytes | None]:
    """(status, body) of one request; a GET's event stream is not read (its status says enough)."""
    if method == "GET":
        async with http.stream("GET", "/mcp", headers={**headers, "Accept": "text/event-stream"}) as response:
            if response.status_code == 200:
                return 200, None
            return response.status_code, await response.aread()
    response = await http.request(method, "/mcp", json=body, headers=headers)
    return response.status_code, response.content


@pytest.mark.parametrize(
    "kind",
    ["other_tenant", "same_tenant_other_user_key", "same_tenant_other_user_jwt", "same_user_other_key"],
)
async def test_another_caller_cannot_use_or_end_a_session(site: Site, mcp_server: Server, kind: str) -> None:
    pair = await _pair(site, mcp_server, kind)
    async with httpx2.AsyncClient(base_url=site.url, timeout=10.0) as http:
        session_id = await _open(http, pair.owner)
        unknown = uuid.uuid4().hex
        for method, body in (("POST", TOOLS_LIST), ("POST", WHOAMI), ("GET", None), ("DELETE", None)):
            stolen = await _answers(http, method, _on(session_id, pair.intruder), body)
            assert stolen[0] == 404, (method, body, stolen)
            assert stolen == await _answers(http, method, _on(unknown, pair.intruder), body), (method, body)

        # The owner's session is untouched: it lists, calls and is ended by its owner alone.
        listed = await http.post("/mcp", json=TOOLS_LIST, headers=_on(session_id, pair.owner))
        assert listed.status_code == 200, listed.text
        assert "whoami" in {t["name"] for t in listed.json()["result"]["tools"]}
        called = await http.post("/mcp", json=WHOAMI, headers=_on(session_id, pair.owner))
        assert called.status_code == 200, called.text
        assert called.json()["result"]["isError"] is False
        ended = await http.delete("/mcp", headers=_on(session_id, pair.owner))
        assert ended.status_code == 200, ended.text
        gone = await http.post("/mcp", json=TOOLS_LIST, headers=_on(session_id, pair.owner))
        assert gone.status_code == 404


async def test_a_refreshed_login_keeps_its_session(site: Site) -> None:
    """A login owns its sessions as its user in its tenant: a later access token may go on."""
    async with site.uc.ports.uow(read_only=True) as uow:
        owner = await uow.users.get(site.owner.user_id)
    assert owner is not None
    pair = await site.uc.sessions.login(Credentials(owner.email, PASSWORD, tenant_id=site.tenant.id))
    async with httpx2.AsyncClient(base_url=site.url, timeout=10.0) as http:
        session_id = await _open(http, site.owner_token)
        listed = await http.post("/mcp", json=TOOLS_LIST, headers=_on(session_id, pair.access_token))
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28", "auto"])
async def test_the_sdk_client_works_in_every_protocol_mode(site: Site, mode: str) -> None:
    minted = await site.key("profile:read")
    async with (
        httpx2.AsyncClient(headers=bearer(minted.key), timeout=20.0) as http,
        Client(streamable_http_client(site.mcp_url, http_client=http), mode=mode) as client,
    ):
        tools = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("whoami", {})
    assert "whoami" in tools
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["credential_id"] == minted.api_key.id
