"""/api/infra/ssh over real sockets against real OpenSSH servers: who gets in (admin key + X-User-Id), the
inventory and its audit, the injection corpus echoed back word for word, every remote failure kind produced
for real (and the process gone on the host), runs polled and cancelled, other tenants' objects as 404, and
the audit chain verified, then tampered with in the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_core.domain.identity import Tier
from tests.drivers.http.conftest import Account, assert_error
from tests.servers.sshd import Sshd, SshLab, processes
from tests.support import LiveServer
from tests.unit.infra_ssh_support import ALL_ACTIONS, operator_key

BASE = "/api/infra/ssh"


@dataclass
class Operator:
    key: str
    user: str = "alice@example.com"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key, "X-User-Id": self.user}


async def _operator(server: LiveServer, label: str = "ops") -> Operator:
    return Operator(await operator_key(server.uc, label))


def _host_body(sshd: Sshd, name: str, **changes: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "address": sshd.address,
        "port": sshd.port,
        "login": sshd.login,
        "host_key": sshd.host_key,
        "private_key": sshd.user_key.private.decode(),
        "actions": ALL_ACTIONS,
    }
    return body | changes


async def _add_host(client: httpx.AsyncClient, ops: Operator, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{BASE}/hosts", json=body, headers=ops.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _run(
    client: httpx.AsyncClient, ops: Operator, host_id: str, action: str, **parameters: Any
) -> httpx.Response:
    body = {"host_id": host_id, "action": action, "parameters": parameters}
    return await client.post(f"{BASE}/runs", json=body, headers=ops.headers)


async def _until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def _audit(client: httpx.AsyncClient, ops: Operator, **query: str) -> list[dict[str, Any]]:
    response = await client.get(f"{BASE}/audit", params=query, headers=ops.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_only_an_admin_key_with_x_user_id_gets_in(
    server: LiveServer, client: httpx.AsyncClient, shared_owner: Account
) -> None:
    ops = await _operator(server)
    assert_error(await client.get(f"{BASE}/hosts", headers={"X-API-Key": ops.key}), 400, "user_id_required")
    assert (await client.get(f"{BASE}/hosts", headers=ops.headers)).status_code == 200
    standard = await operator_key(server.uc, "std", tier=Tier.STANDARD)
    assert_error(await client.get(f"{BASE}/hosts", headers={"X-API-Key": standard}), 403, "admin_key_required")
    with_user = {"X-API-Key": standard, "X-User-Id": "alice"}
    assert_error(await client.get(f"{BASE}/actions", headers=with_user), 403, "admin_key_required")
    assert_error(await client.get(f"{BASE}/hosts", headers=shared_owner.bearer), 403, "admin_key_required")


async def test_bad_audit_filters_are_400_and_need_the_acting_user_first(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    ops = await _operator(server)
    audit = f"{BASE}/audit"
    for bad in ({"outcome": "maybe"}, {"event": "party"}, {"host_id": "h" * 65}, {"user_id": "u" * 129}):
        assert_error(await client.get(audit, params=bad, headers=ops.headers), 400)
    assert_error(
        await client.get(audit, params={"outcome": "ok"}, headers={"X-API-Key": ops.key}), 400, "user_id_required"
    )
    assert await _audit(client, ops, outcome="ok", user_id="nobody@example.com") == []


async def test_the_inventory_over_rest_never_shows_the_key_and_is_audited(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    ops = await _operator(server)
    host = await _add_host(client, ops, _host_body(ssh_lab.dev, "dev-1", tier="prod"))
    assert host["approvers_required"] == 2
    assert host["public_key"] == ssh_lab.dev.user_key.public
    listed = await client.get(f"{BASE}/hosts", headers=ops.headers)
    assert "PRIVATE KEY" not in listed.text
    assert listed.json()["total"] == 1
    changed = await client.patch(f"{BASE}/hosts/{host['id']}", json={"labels": ["eu"]}, headers=ops.headers)
    assert changed.json()["labels"] == ["eu"]
    repin = await client.post(
        f"{BASE}/hosts/{host['id']}/host-key", json={"host_key": ssh_lab.dev2.host_key}, headers=ops.headers
    )
    assert repin.json()["host_key"] == ssh_lab.dev2.host_key
    assert_error(await client.post(f"{BASE}/hosts", json=_host_body(ssh_lab.dev, "dev-1"), headers=ops.headers), 409)
    bad_key = _host_body(ssh_lab.dev, "dev-2", private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
    assert_error(await client.post(f"{BASE}/hosts", json=bad_key, headers=ops.headers), 400)
    assert (await client.delete(f"{BASE}/hosts/{host['id']}", headers=ops.headers)).status_code == 200
    events = [r["event"] for r in await _audit(client, ops)]
    assert events == ["host_removed", "host_key_repinned", "host_changed", "host_added"]
    assert "PRIVATE KEY" not in (await client.get(f"{BASE}/audit", headers=ops.headers)).text


ECHOED = ["; rm -rf /", "$(id)", "`id`", "a\nb", "it's", '"q"', "two  spaces", " ", "*", "$HOME", "a|b&&c>d", "x" * 256]


async def test_injection_corpus_reaches_sshd_as_one_argument_each(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    ops = await _operator(server)
    host = await _add_host(client, ops, _host_body(ssh_lab.dev, "dev-echo"))
    for word in ECHOED:
        response = await _run(client, ops, host["id"], "echo", message=word)
        assert response.status_code == 200, response.text
        assert response.json()["stdout"]["text"] == word + "\n"
        assert response.json()["argv"] == ["echo", word]
    for bad in ("x" * 257, "nul\x00"):
        assert_error(await _run(client, ops, host["id"], "echo", message=bad), 400)
    assert_error(await _run(client, ops, host["id"], "disk_usage", path="/; id"), 400, "validation_failed")
    check = await client.post(
        f"{BASE}/actions/echo/check",
        json={"host_id": host["id"], "parameters": {"message": "$(id)"}},
        headers=ops.headers,
    )
    assert check.json()["decision"] == "ok"
    assert check.json()["argv"] == ["echo", "$(id)"]


async def _kind(response: httpx.Response, kind: str) -> dict[str, object]:
    body = assert_error(response, 502, "remote_failed")
    assert body["kind"] == kind, body
    return body


async def test_every_remote_failure_kind_for_real(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    ops = await _operator(server)
    dev = await _add_host(client, ops, _host_body(ssh_lab.dev, "dev"))
    closed = await _add_host(client, ops, _host_body(ssh_lab.dev, "closed", port=ssh_lab.closed_port))
    stranger = await _add_host(
        client, ops, _host_body(ssh_lab.dev, "stranger", private_key=ssh_lab.stranger_key.private.decode())
    )
    impostor = await _add_host(client, ops, _host_body(ssh_lab.dev, "impostor", port=ssh_lab.impostor.port))
    await _kind(await _run(client, ops, closed["id"], "uptime"), "unreachable")
    await _kind(await _run(client, ops, stranger["id"], "uptime"), "auth_failed")
    await _kind(await _run(client, ops, impostor["id"], "uptime"), "host_key_mismatch")
    assert "Accepted publickey" not in ssh_lab.impostor.log.read_text()
    await _kind(await _run(client, ops, dev["id"], "path_exists", path="/etc/nologin"), "exit_nonzero")
    started = time.monotonic()
    timed_out = await _kind(await _run(client, ops, dev["id"], "wait", seconds=37), "timeout")
    assert time.monotonic() - started < 20
    assert await _until(lambda: not processes("sleep 37"))
    run = (await client.get(f"{BASE}/runs/{timed_out['run_id']}", headers=ops.headers)).json()
    assert run["remote_kind"] == "timeout"
    kinds = [r["remote_kind"] for r in await _audit(client, ops, event="run")]
    assert kinds == ["timeout", "exit_nonzero", "host_key_mismatch", "auth_failed", "unreachable"]
    lease = await _run(client, ops, dev["id"], "restart_service", name="cron")
    assert_error(lease, 403, "approval_required")


async def test_a_run_is_polled_then_cancelled_and_dies_on_the_host(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    ops = await _operator(server)
    dev = await _add_host(client, ops, _host_body(ssh_lab.dev2, "dev2"))
    body = {"host_id": dev["id"], "action": "wait", "parameters": {"seconds": 43}, "wait_seconds": 0}
    started = await client.post(f"{BASE}/runs", json=body, headers=ops.headers)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert await _until(lambda: bool(processes("sleep 43")))
    assert (await client.get(f"{BASE}/runs/{run_id}", headers=ops.headers)).json()["state"] == "running"
    cancelled = await client.post(f"{BASE}/runs/{run_id}/cancel", headers=ops.headers)
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["remote_kind"] == "signal"
    assert await _until(lambda: not processes("sleep 43"))
    record = (await _audit(client, ops, run_id=run_id))[0]
    assert record["remote_kind"] == "signal"
    assert record["detail"] == "cancelled by alice@example.com"


async def test_another_tenant_sees_nothing(server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab) -> None:
    ops, other = await _operator(server, "ops-a"), await _operator(server, "ops-b")
    host = await _add_host(client, ops, _host_body(ssh_lab.dev3, "mine"))
    run = (await _run(client, ops, host["id"], "uptime")).json()
    for path in (f"/hosts/{host['id']}", f"/runs/{run['id']}"):
        assert_error(await client.get(BASE + path, headers=other.headers), 404)
    assert_error(await client.delete(f"{BASE}/hosts/{host['id']}", headers=other.headers), 404)
    assert_error(await client.post(f"{BASE}/runs/{run['id']}/cancel", headers=other.headers), 404)
    assert_error(await _run(client, other, host["id"], "uptime"), 404)
    assert all(r["host_id"] != host["id"] for r in await _audit(client, other))


async def test_the_audit_verifies_until_the_database_is_edited(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    ops = await _operator(server)
    host = await _add_host(client, ops, _host_body(ssh_lab.dev, "audited"))
    for message in ("a", "b", "c"):
        await _run(client, ops, host["id"], "echo", message=message)
    records = await _audit(client, ops)
    tenant_id = records[0]["tenant_id"]
    mark = await server.uc.infra_ssh.checkpoint_audit.tenant(tenant_id)  # `tesserra audit checkpoint`
    assert mark is not None
    assert mark.seq == 4
    verified = await client.get(f"{BASE}/audit/verify", headers=ops.headers)
    assert verified.json() == {
        "ok": True,
        "checked": 4,
        "first_bad_seq": None,
        "first_bad_id": None,
        "problem": None,
        "checkpoints": 1,
        "bad_checkpoint_seq": None,
    }
    second = next(r for r in records if r["seq"] == 2)
    uow = server.uc.ports.uow
    assert isinstance(uow, SqlUnitOfWorkFactory)
    async with uow.engine.begin() as conn:  # the last record removed: the chain is whole, but short
        await conn.execute(delete(t.ssh_audit).where(t.ssh_audit.c.tenant_id == tenant_id, t.ssh_audit.c.seq == 4))
    cut = (await client.get(f"{BASE}/audit/verify", headers=ops.headers)).json()
    assert (cut["ok"], cut["checked"], cut["first_bad_seq"], cut["bad_checkpoint_seq"]) == (False, 3, 4, 4)
    async with uow.engine.begin() as conn:
        await conn.execute(update(t.ssh_audit).where(t.ssh_audit.c.id == second["id"]).values(user_id="mallory"))
    broken = (await client.get(f"{BASE}/audit/verify", headers=ops.headers)).json()
    assert broken["ok"] is False
    assert broken["first_bad_seq"] == 2
    assert broken["first_bad_id"] == second["id"]


async def test_a_retried_run_with_the_same_idempotency_key_runs_once(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    ops = await _operator(server)
    host = await _add_host(client, ops, _host_body(ssh_lab.dev, "retried"))
    body = {"host_id": host["id"], "action": "echo", "parameters": {"message": "once"}}
    headers = {**ops.headers, "Idempotency-Key": "run-once-1"}
    first = await client.post(f"{BASE}/runs", json=body, headers=headers)
    again = await client.post(f"{BASE}/runs", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(await _audit(client, ops, event="run")) == 1
