"""The tool platform over real HTTP: marketplace, installs that run real MCP servers, tool calls,
uploads, containers; errors and the rules an attacker would try to break."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesserra_core.domain.identity import Role
from tesserra_core.domain.plans import FREE_LIMITS
from tests.drivers.http.conftest import Accounts, assert_error
from tests.drivers.http.tools.conftest import PROBE, SECRET, TIME, install, settle
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("time_server")  # conftest.py provides it


async def test_install_mcp_server_time_and_call_it(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    found = await http.get("/api/marketplace/tools", params={"q": "timezone"}, headers=owner.bearer)
    assert found.status_code == 200
    assert [t["id"] for t in found.json()["items"]] == [TIME]
    details = await http.get(f"/api/marketplace/tools/{TIME}", headers=owner.bearer)
    assert details.json()["config"][0]["name"] == "TZ"
    registry = await http.get(f"/api/registry/{TIME}", headers=owner.bearer)
    assert registry.json()["packages"][0]["registryType"] == "pypi"
    assert (await http.get("/api/registry", headers=owner.bearer)).json()["total"] == 5

    ready = await install(http, owner, TIME, {"config": {"TZ": "America/Sao_Paulo"}})
    assert ready["status"] == "ready", ready
    tools = await http.get(f"/api/installations/{ready['id']}/tools", headers=owner.bearer)
    assert {t["name"] for t in tools.json()["tools"]} == {"get_current_time", "convert_time"}
    called = await http.post(
        f"/api/installations/{ready['id']}/tools/call",
        json={"name": "get_current_time", "arguments": {"timezone": "Europe/Paris"}},
        headers=owner.bearer,
    )
    assert called.status_code == 200, called.text
    assert called.json()["structured_content"]["timezone"] == "Europe/Paris"
    assert called.json()["is_error"] is False

    containers = await http.get("/api/containers", headers=owner.bearer)
    [container] = containers.json()["items"]
    assert container["installation_id"] == ready["id"]
    assert container["state"] == "running"
    assert ready["container_id"] == container["id"]

    deleted = await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)
    assert deleted.status_code == 204
    assert_error(
        await http.get(f"/api/installations/{ready['id']}", headers=owner.bearer), 404, "installation_not_found"
    )
    assert (await http.get("/api/containers", headers=owner.bearer)).json()["items"] == []


async def test_bad_requests_answer_clear_4xx(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    h = owner.bearer
    assert_error(await http.post("/api/marketplace/tools/nope/install", json={}, headers=h), 404, "tool_not_found")
    body = assert_error(await http.post(f"/api/marketplace/tools/{PROBE}/install", json={}, headers=h), 400)
    assert "config.PROBE_TOKEN" in str(body["detail"])
    body = assert_error(
        await http.post(
            f"/api/marketplace/tools/{PROBE}/install", json={"config": {"PROBE_TOKEN": "x", "EVIL": "1"}}, headers=h
        ),
        400,
        "unknown_config_field",
    )
    assert "config.EVIL" in str(body["detail"])
    assert_error(await http.post(f"/api/marketplace/tools/{PROBE}/install", json={"scope": "world"}, headers=h), 400)
    assert_error(await http.post(f"/api/marketplace/tools/{PROBE}/install", json={"surprise": 1}, headers=h), 400)
    malformed = await http.post(
        f"/api/marketplace/tools/{PROBE}/install", content=b"{", headers={**h, "Content-Type": "application/json"}
    )
    assert_error(malformed, 400)
    assert_error(
        await http.post("/api/marketplace/tools/test.tesserra-remote-only/install", json={}, headers=h),
        400,
        "not_installable",
    )
    assert_error(await http.get("/api/marketplace/tools", params={"limite": 0}, headers=h), 400)
    assert_error(await http.get("/api/marketplace/tools", params={"q": "x" * 300}, headers=h), 400)
    assert_error(await http.post("/api/installations/nope/tools/call", json={"name": "x"}, headers=h), 404)
    assert_error(await http.post("/api/installations/nope/tools/call", json={}, headers=h), 400)
    assert_error(
        await http.post("/api/installations/nope/tools/call", json={"name": "x", "timeout": 9999}, headers=h), 400
    )
    assert_error(await http.get("/api/containers/nope", headers=h), 404, "container_not_found")
    assert_error(await http.post("/api/containers/nope/explode", headers=h), 400, "validation_failed")
    assert_error(await http.post("/api/containers/nope/stop", headers=h), 404, "container_not_found")
    assert_error(await http.post("/api/marketplace/refresh", headers=h), 403, "admin_only")
    assert_error(await http.get("/api/installations"), 401)


async def test_quota_scopes_and_tenants(
    http: httpx.AsyncClient, team_accounts: Accounts, tools_server: LiveServer
) -> None:
    owner = await team_accounts.tenant_owner()
    member = await team_accounts.member(owner.tenant_id, Role.MEMBER)
    viewer = await team_accounts.member(owner.tenant_id, Role.VIEWER)
    stranger = await team_accounts.tenant_owner("Other")
    url = "/api/marketplace/tools/test.tesserra-drive/install"
    assert_error(await http.post(url, json={"scope": "tenant"}, headers=member.bearer), 403, "not_a_manager")
    assert_error(await http.post(url, json={"scope": "tenant"}, headers=owner.bearer), 400, "per_user_tool")
    assert_error(await http.post(url, json={}, headers=viewer.bearer), 403, "insufficient_scope")
    ids = []
    for _ in range(3):
        response = await http.post(url, json={}, headers=owner.bearer)
        assert response.status_code == 202
        ids.append(response.json()["id"])
    body = assert_error(await http.post(url, json={}, headers=owner.bearer), 402, "subscription_required")
    assert "installations" in str(body["detail"])
    for installation_id in ids:
        assert (await settle(http, owner, installation_id))["status"] == "needs_auth"
        for method, path in (
            ("GET", f"/api/installations/{installation_id}"),
            ("GET", f"/api/installations/{installation_id}/tools"),
            ("PATCH", f"/api/installations/{installation_id}"),
            ("DELETE", f"/api/installations/{installation_id}"),
            ("POST", f"/api/installations/{installation_id}/tools/call"),
        ):
            kwargs: dict[str, Any] = {"json": {"config": {}} if method == "PATCH" else {"name": "echo"}}
            if method in ("GET", "DELETE"):
                kwargs = {}
            response = await http.request(method, path, headers=stranger.bearer, **kwargs)
            assert_error(response, 404, "installation_not_found")
    listed = await http.get("/api/installations", headers=stranger.bearer)
    assert listed.json()["total"] == 0
    # A key with tools:read only may look but not install.
    key = await tools_server.uc.api_keys.generate(
        await tools_server.uc.authenticate(owner.access),
        __import__("tesserra_core.usecases.api_keys", fromlist=["NewApiKey"]).NewApiKey(
            name="ro", scopes=["tools:read"]
        ),
    )
    ro = {"X-API-Key": key.key}
    assert (await http.get("/api/installations", headers=ro)).json()["total"] == 3
    assert_error(await http.post(url, json={}, headers=ro), 403, "insufficient_scope")
    assert_error(await http.post(f"/api/installations/{ids[0]}/tools/call", json={"name": "echo"}, headers=ro), 403)


async def test_concurrent_installs_never_pass_the_quota(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    url = "/api/marketplace/tools/test.tesserra-drive/install"
    limit = FREE_LIMITS.installations
    assert limit is not None
    responses = await asyncio.gather(*(http.post(url, json={}, headers=owner.bearer) for _ in range(limit + 5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * limit + [402] * 5, [r.text for r in responses]
    listed = (await http.get("/api/installations", headers=owner.bearer)).json()
    assert listed["total"] == limit
    for installation in listed["items"]:
        assert (await settle(http, owner, installation["id"]))["status"] == "needs_auth"


async def test_secrets_never_appear_in_responses_logs_or_the_database(
    http: httpx.AsyncClient, team_accounts: Accounts, tools_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = await team_accounts.tenant_owner()
    h = owner.bearer
    bodies: list[str] = []
    response = await http.post(
        f"/api/marketplace/tools/{PROBE}/install", json={"config": {"PROBE_TOKEN": SECRET}}, headers=h
    )
    bodies.append(response.text)
    ready = await settle(http, owner, response.json()["id"])
    assert ready["status"] == "ready", ready
    assert ready["secret_fields"] == ["PROBE_TOKEN"]
    iid = ready["id"]
    called = await http.post(
        f"/api/installations/{iid}/tools/call",
        json={"name": "env_digest", "arguments": {"name": "PROBE_TOKEN"}},
        headers=h,
    )
    assert called.json()["content"][0]["text"] == hashlib.sha256(SECRET.encode()).hexdigest()
    bodies.append(called.text)
    patched = await http.patch(f"/api/installations/{iid}", json={"config": {"PROBE_MODE": "careful"}}, headers=h)
    assert patched.status_code == 202, patched.text
    bodies.append(patched.text)
    await settle(http, owner, iid)
    for path in (
        f"/api/installations/{iid}",
        "/api/installations",
        f"/api/installations/{iid}/tools",
        "/api/containers",
    ):
        bodies.append((await http.get(path, headers=h)).text)
    bad = await http.post(
        f"/api/marketplace/tools/{PROBE}/install", json={"config": {"PROBE_TOKEN": SECRET, "X": SECRET}}, headers=h
    )
    bodies.append(bad.text)
    for body in bodies:
        assert SECRET not in body
    assert SECRET not in caplog.text
    # At rest: the database file (SQLite) or the row (PostgreSQL) holds only the sealed value.
    async with tools_server.uc.ports.uow(read_only=True) as uow:
        stored = await uow.installations.find(iid)
    assert stored is not None
    assert stored.sealed_secrets is not None
    assert SECRET not in repr(stored)
    data_dir = Path(str(tools_server.uc.ports.workspaces.path(iid))).parents[1]
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "workload.json" for p in files)  # the runtime's record is among them
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]
    await http.delete(f"/api/installations/{iid}", headers=h)


async def test_timeouts_and_crashes_answer_503_with_clear_codes(
    http: httpx.AsyncClient, team_accounts: Accounts
) -> None:
    owner = await team_accounts.tenant_owner()
    ready = await install(http, owner, PROBE, {"config": {"PROBE_TOKEN": "t"}})
    call = f"/api/installations/{ready['id']}/tools/call"
    slow = await http.post(
        call, json={"name": "slow", "arguments": {"seconds": 5}, "timeout": 0.3}, headers=owner.bearer
    )
    assert_error(slow, 503, "tool_call_timeout")
    crashed = await http.post(call, json={"name": "crash"}, headers=owner.bearer)
    assert_error(crashed, 503, "tool_server_crashed")
    again = await http.post(call, json={"name": "echo", "arguments": {"text": "back"}}, headers=owner.bearer)
    assert again.status_code == 200
    assert again.json()["content"][0]["text"] == "back"
    missing = await http.post(call, json={"name": "nope"}, headers=owner.bearer)
    assert_error(missing, 404, "tool_not_found")
    await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)
