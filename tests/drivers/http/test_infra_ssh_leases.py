"""/api/infra/ssh/admin-session over real sockets against real OpenSSH: a prod lease needs two approvers
other than the asker (key and person), then covers runs of lease-needing actions on the host; revocation ends
a run in flight on the host; expiry does the same by itself at the lease's end; concurrent runs never pass
max_uses; other tenants see 404; every lease event is one audit record and the chain still verifies."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.drivers.http.conftest import assert_error
from tests.drivers.http.test_infra_ssh import BASE, Operator, _add_host, _audit, _host_body, _until
from tests.servers.sshd import SshLab, processes
from tests.support import LiveServer
from tests.unit.infra_ssh_support import operator_key, operator_keys

SESSION = f"{BASE}/admin-session"


async def _team(server: LiveServer) -> list[Operator]:
    keys = await operator_keys(server.uc, 3, "lease")
    return [Operator(key, f"person{i}@example.com") for i, key in enumerate(keys)]


async def _ask(client: httpx.AsyncClient, ops: Operator, host_id: str, **more: Any) -> dict[str, Any]:
    body = {"host_ids": [host_id], "actions": ["touch_file", "hold_maintenance"], "reason": "maintenance"} | more
    response = await client.post(SESSION, json=body, headers=ops.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _approve(client: httpx.AsyncClient, ops: Operator, lease_id: str) -> httpx.Response:
    return await client.post(f"{SESSION}/{lease_id}/approve", headers=ops.headers)


async def _touch(client: httpx.AsyncClient, ops: Operator, host_id: str, path: str) -> httpx.Response:
    body = {"host_id": host_id, "action": "touch_file", "parameters": {"path": path}}
    return await client.post(f"{BASE}/runs", json=body, headers=ops.headers)


async def _hold(client: httpx.AsyncClient, ops: Operator, host_id: str, seconds: int) -> dict[str, Any]:
    body = {"host_id": host_id, "action": "hold_maintenance", "parameters": {"seconds": seconds}, "wait_seconds": 0}
    response = await client.post(f"{BASE}/runs", json=body, headers=ops.headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def _marker() -> str:
    return f"/tmp/tesserra-lease-{uuid.uuid4().hex[:12]}"


async def test_a_prod_lease_needs_two_other_approvers_then_runs_and_revocation_ends_its_run(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    asker, first, second = await _team(server)
    host = await _add_host(client, asker, _host_body(ssh_lab.dev, "prod-db", tier="prod"))
    path = _marker()
    assert_error(await _touch(client, asker, host["id"], path), 403, "approval_required")
    lease = await _ask(client, asker, host["id"], max_uses=3)
    assert (lease["state"], lease["approvers_required"]) == ("pending", 2)
    assert_error(await _approve(client, asker, lease["id"]), 403, "denied")
    assert_error(await _approve(client, Operator(first.key, asker.user), lease["id"]), 403, "denied")
    assert_error(await _approve(client, Operator(asker.key, first.user), lease["id"]), 403, "denied")
    assert (await _approve(client, first, lease["id"])).json()["state"] == "pending"
    assert_error(await _approve(client, Operator(first.key, second.user), lease["id"]), 403, "denied")
    assert_error(await _touch(client, asker, host["id"], path), 403, "approval_required")
    active = (await _approve(client, second, lease["id"])).json()
    assert active["state"] == "active"
    ran = await _touch(client, asker, host["id"], path)
    assert ran.status_code == 200, ran.text
    assert ran.json()["lease_id"] == lease["id"]
    assert await asyncio.to_thread(Path(path).exists)
    run = await _hold(client, asker, host["id"], 131)
    assert await _until(lambda: bool(processes("sleep 131")))
    started = time.monotonic()
    revoked = await client.delete(f"{SESSION}/{lease['id']}", headers=first.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert await _until(lambda: not processes("sleep 131"))
    print(f"revocation to process gone on the host: {time.monotonic() - started:.2f} s")
    ended = (await client.get(f"{BASE}/runs/{run['id']}", headers=asker.headers)).json()
    assert ended["state"] == "cancelled"
    assert_error(await _touch(client, asker, host["id"], _marker()), 403, "approval_required")
    assert_error(await _approve(client, first, lease["id"]), 409, "lease_not_pending")
    assert_error(await client.delete(f"{SESSION}/{lease['id']}", headers=asker.headers), 409, "lease_not_active")
    events = [(r["event"], r["outcome"]) for r in reversed(await _audit(client, asker, lease_id=lease["id"]))]
    assert events == [
        ("lease_requested", "ok"),
        ("lease_approved", "denied"),
        ("lease_approved", "denied"),
        ("lease_approved", "denied"),
        ("lease_approved", "ok"),
        ("lease_approved", "denied"),
        ("lease_approved", "ok"),
        ("run", "ok"),
        ("lease_revoked", "ok"),
        ("run", "remote_failed"),
        ("lease_approved", "denied"),
        ("lease_revoked", "denied"),
    ]
    verified = (await client.get(f"{BASE}/audit/verify", headers=asker.headers)).json()
    assert verified["ok"], verified


async def test_a_lease_ends_by_itself_and_its_run_with_it(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    asker, approver, _ = await _team(server)
    host = await _add_host(client, asker, _host_body(ssh_lab.dev2, "dev-expiring"))
    lease = await _ask(client, asker, host["id"], duration_seconds=6, max_uses=5)
    active = (await _approve(client, approver, lease["id"])).json()
    assert active["state"] == "active"
    run = await _hold(client, asker, host["id"], 137)
    assert await _until(lambda: bool(processes("sleep 137")))
    assert await _until(lambda: not processes("sleep 137"), seconds=30)
    got = (await client.get(f"{SESSION}/{lease['id']}", headers=asker.headers)).json()
    assert got["state"] == "expired"
    assert (await client.get(f"{BASE}/runs/{run['id']}", headers=asker.headers)).json()["state"] == "cancelled"
    assert_error(await _touch(client, asker, host["id"], _marker()), 403, "approval_required")
    expired = await _audit(client, asker, lease_id=lease["id"], event="lease_expired")
    assert len(expired) == 1


async def test_concurrent_runs_never_pass_max_uses(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    asker, approver, _ = await _team(server)
    host = await _add_host(client, asker, _host_body(ssh_lab.dev3, "dev-busy"))
    lease = await _ask(client, asker, host["id"], max_uses=2)
    await _approve(client, approver, lease["id"])
    answers = await asyncio.gather(*(_touch(client, asker, host["id"], _marker()) for _ in range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 403, 403, 403, 403, 403, 403], [a.text for a in answers]
    got = (await client.get(f"{SESSION}/{lease['id']}", headers=asker.headers)).json()
    assert got["uses"] == 2


async def test_another_tenant_sees_no_lease(server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab) -> None:
    asker, approver, _ = await _team(server)
    stranger = Operator(await operator_key(server.uc, "elsewhere"), "eve@example.com")
    host = await _add_host(client, asker, _host_body(ssh_lab.dev, "dev-private"))
    lease = await _ask(client, asker, host["id"])
    assert_error(await client.get(f"{SESSION}/{lease['id']}", headers=stranger.headers), 404, "lease_not_found")
    assert_error(await _approve(client, stranger, lease["id"]), 404, "lease_not_found")
    assert_error(await client.delete(f"{SESSION}/{lease['id']}", headers=stranger.headers), 404, "lease_not_found")
    assert (await client.get(SESSION, headers=stranger.headers)).json()["total"] == 0
    body = {"host_ids": [host["id"]], "actions": ["touch_file"], "reason": "x"}
    assert_error(await client.post(SESSION, json=body, headers=stranger.headers), 404, "host_not_found")
    mine = (await client.get(SESSION, headers=approver.headers)).json()
    assert [x["id"] for x in mine["items"]] == [lease["id"]]
    bad = {"host_ids": [], "actions": ["touch_file"], "reason": "x"}
    assert_error(await client.post(SESSION, json=bad, headers=asker.headers), 400)


async def test_leases_list_by_state_and_by_the_person_asking(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    asker, approver, _ = await _team(server)
    host = await _add_host(client, asker, _host_body(ssh_lab.dev, "dev-listed"))
    approved, pending = await _ask(client, asker, host["id"]), await _ask(client, asker, host["id"])
    theirs = await _ask(client, approver, host["id"])
    assert (await _approve(client, approver, approved["id"])).status_code == 200

    async def listed(**query: str) -> list[str]:
        response = await client.get(SESSION, params=query, headers=asker.headers)
        assert response.status_code == 200, response.text
        return [lease["id"] for lease in response.json()["items"]]

    assert await listed() == [theirs["id"], pending["id"], approved["id"]]
    assert await listed(mine="true") == [pending["id"], approved["id"]]
    assert await listed(state="pending") == [theirs["id"], pending["id"]]
    assert await listed(state="active", mine="true") == [approved["id"]]
    assert_error(await client.get(SESSION, params={"state": "forever"}, headers=asker.headers), 400)
