"""The Infra SSH tools over the MCP SDK's client against real sshd: admin tier and X-User-Id only, hidden
and uncallable for lower tiers, the same data as their REST twins, remote failures as tool errors with
their kind, and runs audited as made over MCP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tesserra_core.domain.identity import Tier
from tests.drivers.mcp.helpers import INFRA_SSH_TOOLS, Site, mcp_session, texts
from tests.servers.sshd import Sshd, SshLab
from tests.unit.infra_ssh_support import ALL_ACTIONS, operator_key, operator_keys


def _host(sshd: Sshd, name: str, port: int | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "address": sshd.address,
        "port": port or sshd.port,
        "login": sshd.login,
        "host_key": sshd.host_key,
        "private_key": sshd.user_key.private.decode(),
        "actions": ALL_ACTIONS,
    }


async def test_the_tools_run_actions_on_real_hosts_and_match_rest(site: Site, ssh_lab: SshLab) -> None:
    headers = {"X-API-Key": await operator_key(site.uc, "mcp-ops"), "X-User-Id": "bob@example.com"}
    async with httpx.AsyncClient(base_url=site.url, headers=headers, timeout=30.0) as rest:
        dev = (await rest.post("/api/infra/ssh/hosts", json=_host(ssh_lab.dev, "dev"))).json()
        impostor = (
            await rest.post("/api/infra/ssh/hosts", json=_host(ssh_lab.dev, "fake", ssh_lab.impostor.port))
        ).json()
        rest_hosts = (await rest.get("/api/infra/ssh/hosts")).json()
        async with mcp_session(site.mcp_url, headers) as session:
            listed = {tool.name for tool in (await session.list_tools()).tools}
            assert listed >= INFRA_SSH_TOOLS
            hosts = await session.call_tool("infra_ssh_list_hosts", {})
            assert hosts.structured_content == rest_hosts
            actions = await session.call_tool("infra_ssh_list_actions", {})
            assert actions.structured_content == {"actions": (await rest.get("/api/infra/ssh/actions")).json()}
            check = await session.call_tool(
                "infra_ssh_check_action", {"action_id": "echo", "host_id": dev["id"], "parameters": {"message": "`id`"}}
            )
            assert check.structured_content is not None
            assert check.structured_content["argv"] == ["echo", "`id`"]
            ran = await session.call_tool(
                "infra_ssh_run_action", {"action_id": "echo", "host_id": dev["id"], "parameters": {"message": "$(id)"}}
            )
            assert not ran.is_error, texts(ran)
            assert ran.structured_content is not None
            assert ran.structured_content["stdout"]["text"] == "$(id)\n"
            run_id = ran.structured_content["id"]
            again = await session.call_tool("infra_ssh_get_run", {"run_id": run_id})
            assert again.structured_content == (await rest.get(f"/api/infra/ssh/runs/{run_id}")).json()
            failed = await session.call_tool("infra_ssh_run_action", {"action_id": "uptime", "host_id": impostor["id"]})
            assert failed.is_error
            assert failed.structured_content is not None
            assert failed.structured_content["code"] == "remote_failed"
            assert failed.structured_content["kind"] == "host_key_mismatch"
            refused = await session.call_tool(
                "infra_ssh_run_action", {"action_id": "wait", "host_id": dev["id"], "parameters": {"seconds": 999}}
            )
            assert refused.structured_content is not None
            assert refused.structured_content["code"] == "validation_failed"
            audit = await session.call_tool("infra_ssh_query_audit", {"event": "run"})
    assert audit.structured_content is not None
    records = audit.structured_content["items"]
    assert [r["outcome"] for r in records] == ["validation_failed", "remote_failed", "ok"]
    assert {r["via"] for r in records} == {"mcp"}
    assert {r["user_id"] for r in records} == {"bob@example.com"}


async def test_without_x_user_id_the_tools_refuse(site: Site) -> None:
    headers = {"X-API-Key": await operator_key(site.uc, "mcp-nouser")}
    async with mcp_session(site.mcp_url, headers) as session:
        result = await session.call_tool("infra_ssh_list_hosts", {})
    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["code"] == "user_id_required"


async def test_lower_tiers_neither_see_nor_call_them(site: Site) -> None:
    minted = await site.key("tools:read", "tools:write", tier=Tier.STANDARD)
    async with mcp_session(site.mcp_url, {"X-API-Key": minted.key}) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools}
        called = {name: await session.call_tool(name, {}) for name in sorted(INFRA_SSH_TOOLS)}
    assert listed.isdisjoint(INFRA_SSH_TOOLS)
    for name, result in called.items():
        assert texts(result) == [f"Unknown tool: {name}"]


async def test_an_mcp_key_asks_for_and_gives_up_a_lease_but_cannot_approve_one(site: Site, ssh_lab: SshLab) -> None:
    asker_key, approver_key = await operator_keys(site.uc, 2, "mcp-lease")
    asker = {"X-API-Key": asker_key, "X-User-Id": "bob@example.com"}
    approver = {"X-API-Key": approver_key, "X-User-Id": "carol@example.com"}
    async with httpx.AsyncClient(base_url=site.url, headers=asker, timeout=30.0) as rest:
        dev = (await rest.post("/api/infra/ssh/hosts", json=_host(ssh_lab.dev3, "dev"))).json()
        async with mcp_session(site.mcp_url, approver) as session:
            listed = {tool.name for tool in (await session.list_tools()).tools}
            assert not {name for name in listed if "approve" in name or "deny" in name}
        async with mcp_session(site.mcp_url, asker) as session:
            asked = await session.call_tool(
                "infra_ssh_request_lease",
                {"host_ids": [dev["id"]], "actions": ["touch_file"], "reason": "rotate", "duration_seconds": 300},
            )
            assert not asked.is_error, texts(asked)
            assert asked.structured_content is not None
            lease_id = asked.structured_content["id"]
            got = await session.call_tool("infra_ssh_get_lease", {"lease_id": lease_id})
            assert got.structured_content == (await rest.get(f"/api/infra/ssh/admin-session/{lease_id}")).json()
            approve = f"/api/infra/ssh/admin-session/{lease_id}/approve"
            assert (await rest.post(approve, headers=approver)).json()["state"] == "active"
            given_up = await session.call_tool("infra_ssh_revoke_lease", {"lease_id": lease_id})
            assert given_up.structured_content is not None
            assert given_up.structured_content["state"] == "revoked"
            after = await session.call_tool(
                "infra_ssh_run_action",
                {"action_id": "touch_file", "host_id": dev["id"], "parameters": {"path": "/tmp/x"}},
            )
            assert after.structured_content is not None
            assert after.structured_content["code"] == "approval_required"
        events = (await rest.get("/api/infra/ssh/audit", params={"lease_id": lease_id})).json()["items"]
    assert [(e["event"], e["via"]) for e in reversed(events)] == [
        ("lease_requested", "mcp"),
        ("lease_approved", "rest"),
        ("lease_revoked", "mcp"),
    ]


async def test_the_forward_tools_open_list_and_close_a_forward_through_real_sshd(site: Site, ssh_lab: SshLab) -> None:
    asker_key, first_key, second_key = await operator_keys(site.uc, 3, "mcp-fwd")
    asker = {"X-API-Key": asker_key, "X-User-Id": "bob@example.com"}
    echo = ssh_lab.echo.destination
    async with httpx.AsyncClient(base_url=site.url, headers=asker, timeout=30.0) as rest:
        body = _host(ssh_lab.prod, "prod-fwd") | {"tier": "prod", "forwards": [echo]}
        prod = (await rest.post("/api/infra/ssh/hosts", json=body)).json()
        ask = {"host_ids": [prod["id"]], "actions": ["touch_file"], "reason": "debug", "forwards": [echo]}
        lease_id = (await rest.post("/api/infra/ssh/admin-session", json=ask)).json()["id"]
        for i, key in enumerate((first_key, second_key)):
            approver = {"X-API-Key": key, "X-User-Id": f"approver{i}@example.com"}
            approved = await rest.post(f"/api/infra/ssh/admin-session/{lease_id}/approve", headers=approver)
            assert approved.status_code == 200, approved.text
        async with mcp_session(site.mcp_url, asker) as session:
            refused = await session.call_tool("infra_ssh_open_forward", {"host_id": prod["id"], "destination": "x:1"})
            assert refused.structured_content is not None
            assert refused.structured_content["code"] == "denied"
            opened = await session.call_tool("infra_ssh_open_forward", {"host_id": prod["id"], "destination": echo})
            assert not opened.is_error, texts(opened)
            forward = opened.structured_content
            assert forward is not None
            reader, writer = await asyncio.open_connection(forward["local_address"], forward["local_port"])
            writer.write(b"hello through sshd")
            assert await asyncio.wait_for(reader.readexactly(18), 20) == b"hello through sshd"
            listed = await session.call_tool("infra_ssh_list_forwards", {})
            assert listed.structured_content == (await rest.get("/api/infra/ssh/forwards")).json()
            closed = await session.call_tool("infra_ssh_close_forward", {"forward_id": forward["id"]})
            assert closed.structured_content is not None
            assert closed.structured_content["state"] == "closed"
            assert closed.structured_content["bytes_received"] == 18
            assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()
        events = (await rest.get("/api/infra/ssh/audit", params={"user_id": "bob@example.com"})).json()["items"]
    forwards = [(e["event"], e["outcome"], e["via"]) for e in reversed(events) if e["event"].startswith("forward")]
    assert forwards == [("forward", "denied", "mcp"), ("forward", "ok", "mcp"), ("forward_closed", "ok", "mcp")]
