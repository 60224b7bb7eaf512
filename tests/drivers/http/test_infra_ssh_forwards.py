"""/api/infra/ssh/forwards over real sockets against real OpenSSH (the lab's prod sshd permits local forwards
to its echo server and tarpit only, PermitOpen): bytes echoed end to end through sshd and counted; a
destination we do not allow refused before any port listens (and nothing reaches it); one we allow but sshd
refuses is 502 forward_refused; revocation and expiry of the lease close the forward within 2 s (a client
connected through it sees end of file); other tenants see 404; one audit record per attempt and at close."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tesserra_adapters.ssh.client import AsyncsshClient
from tesserra_core.errors import RemoteFailed
from tesserra_core.ports.ssh import SshTarget
from tests.drivers.http.conftest import assert_error
from tests.drivers.http.test_infra_ssh import BASE, Operator, _add_host, _audit, _host_body
from tests.drivers.http.test_infra_ssh_certificates import ECHO, _log_says
from tests.servers.sshd import SshLab, certified_sshd, listening_ports, permit_open
from tests.support import LiveServer
from tests.unit.infra_ssh_support import operator_key, operator_keys

FORWARDS = f"{BASE}/forwards"


async def _team(server: LiveServer) -> list[Operator]:
    keys = await operator_keys(server.uc, 3, "fwd")
    return [Operator(key, f"fwd{i}@example.com") for i, key in enumerate(keys)]


async def _lease(
    client: httpx.AsyncClient, team: list[Operator], host_id: str, forwards: list[str], **more: Any
) -> str:
    asker, *approvers = team
    body = {"host_ids": [host_id], "actions": ["touch_file"], "reason": "debug", "forwards": forwards} | more
    asked = await client.post(f"{BASE}/admin-session", json=body, headers=asker.headers)
    assert asked.status_code == 201, asked.text
    for approver in approvers:  # a prod host: two approvers
        approved = await client.post(f"{BASE}/admin-session/{asked.json()['id']}/approve", headers=approver.headers)
        assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "active"
    return str(asked.json()["id"])


async def _open(client: httpx.AsyncClient, ops: Operator, host_id: str, destination: str) -> httpx.Response:
    return await client.post(FORWARDS, json={"host_id": host_id, "destination": destination}, headers=ops.headers)


async def _prod_host(client: httpx.AsyncClient, ops: Operator, lab: SshLab, name: str, forwards: list[str]) -> str:
    body = _host_body(lab.prod, name, tier="prod", forwards=forwards)
    return str((await _add_host(client, ops, body))["id"])


async def _connect(forward: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(forward["local_address"], forward["local_port"])


async def test_bytes_go_through_sshd_to_the_echo_server_counted_and_audited(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    asker = team[0]
    echo = ssh_lab.echo.destination
    host_id = await _prod_host(client, asker, ssh_lab, "prod-echo", [echo])
    lease_id = await _lease(client, team, host_id, [echo])
    opened = await _open(client, asker, host_id, echo)
    assert opened.status_code == 201, opened.text
    forward = opened.json()
    assert forward["state"] == "open"
    assert forward["lease_id"] == lease_id
    assert forward["local_port"] in listening_ports()
    payload = bytes(range(256)) * 1024
    for _ in range(2):
        reader, writer = await _connect(forward)
        writer.write(payload)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 20) == payload
        writer.close()
    seen = (await client.get(f"{FORWARDS}/{forward['id']}", headers=asker.headers)).json()
    assert (seen["bytes_sent"], seen["bytes_received"], seen["connections"]) == (2 * len(payload),) * 2 + (2,)
    listed = (await client.get(FORWARDS, headers=asker.headers)).json()["items"]
    assert [f["id"] for f in listed] == [forward["id"]]
    closed = await client.delete(f"{FORWARDS}/{forward['id']}", headers=team[1].headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert closed.json()["closed_by"] == team[1].user
    assert forward["local_port"] not in listening_ports()
    records = await _audit(client, asker, lease_id=lease_id)
    mine = [r for r in reversed(records) if r["event"].startswith("forward")]
    assert [(r["event"], r["outcome"]) for r in mine] == [("forward", "ok"), ("forward_closed", "ok")]
    assert mine[0]["id"] == forward["audit_id"]
    assert mine[1]["parameters"]["bytes_sent"] == mine[1]["parameters"]["bytes_received"] == 2 * len(payload)
    assert (await client.get(f"{BASE}/audit/verify", headers=asker.headers)).json()["ok"] is True


async def test_refused_forwards_leave_no_port_and_sshd_permit_open_is_forward_refused(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    asker = team[0]
    echo, forbidden = ssh_lab.echo.destination, ssh_lab.forbidden.destination
    strict = await _prod_host(client, asker, ssh_lab, "prod-strict", [echo])
    loose = await _prod_host(client, asker, ssh_lab, "prod-loose", [echo, forbidden])  # sshd still refuses it
    dev = str((await _add_host(client, asker, _host_body(ssh_lab.dev, "dev-fwd", forwards=[echo])))["id"])
    reached = ssh_lab.forbidden.accepted

    async def refused(host_id: str, destination: str, status: int, code: str) -> dict[str, Any]:
        before = listening_ports()
        response = await _open(client, asker, host_id, destination)
        assert_error(response, status, code)
        assert listening_ports() <= before
        return dict(response.json())

    await refused(strict, echo, 403, "approval_required")
    await _lease(client, team, strict, [echo])
    await _lease(client, team, loose, [echo, forbidden])
    await refused(strict, forbidden, 403, "denied")
    edge = await client.post(FORWARDS, json={"host_id": strict, "destination": "127.0.0.1:0"}, headers=asker.headers)
    assert edge.status_code == 400, edge.text  # refused by the body's schema, before the use case
    by_sshd = await refused(loose, forbidden, 502, "remote_failed")
    assert by_sshd["kind"] == "forward_refused"
    assert ssh_lab.forbidden.accepted == reached  # nothing reached the forbidden destination
    await _lease(client, team[:2], dev, [echo])
    off = await refused(dev, echo, 502, "remote_failed")  # the dev sshd: AllowTcpForwarding no
    assert off["kind"] == "forward_refused"
    records = [r for r in reversed(await _audit(client, asker, event="forward"))]
    assert [(r["outcome"], r["remote_kind"]) for r in records] == [
        ("approval_required", None),
        ("denied", None),
        ("remote_failed", "forward_refused"),
        ("remote_failed", "forward_refused"),
    ]


async def _sees_eof_within(reader: asyncio.StreamReader, seconds: float) -> float:
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), seconds) == b""
    return time.monotonic() - started


async def test_revocation_and_expiry_close_the_forward_within_two_seconds(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    asker = team[0]
    tarpit, echo = ssh_lab.tarpit.destination, ssh_lab.echo.destination
    host_id = await _prod_host(client, asker, ssh_lab, "prod-tarpit", [tarpit, echo])

    revoked = await _lease(client, team, host_id, [tarpit])
    forward = (await _open(client, asker, host_id, tarpit)).json()
    reader, writer = await _connect(forward)
    writer.write(b"anyone there?")
    await writer.drain()
    await asyncio.sleep(0.2)
    gone = await client.delete(f"{BASE}/admin-session/{revoked}", headers=team[2].headers)
    assert gone.status_code == 200, gone.text
    await _sees_eof_within(reader, 2.0)
    writer.close()
    closed = (await client.get(f"{FORWARDS}/{forward['id']}", headers=asker.headers)).json()
    assert closed["state"] == "closed"
    assert closed["closed_by"] == f"revocation by {team[2].user}"
    assert closed["bytes_sent"] == len(b"anyone there?")
    assert forward["local_port"] not in listening_ports()

    expiring = await _lease(client, team, host_id, [echo], duration_seconds=5)
    lease = (await client.get(f"{BASE}/admin-session/{expiring}", headers=asker.headers)).json()
    forward = (await _open(client, asker, host_id, echo)).json()
    reader, writer = await _connect(forward)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
    ends_at = datetime.fromisoformat(lease["ends_at"]).timestamp()
    await asyncio.sleep(max(0.0, ends_at - time.time() - 0.5))
    await _sees_eof_within(reader, 2.5 + 0.5)
    assert time.time() - ends_at < 2.0
    writer.close()
    closed = (await client.get(f"{FORWARDS}/{forward['id']}", headers=asker.headers)).json()
    assert closed["closed_by"] == "lease expiry"
    assert_error(await _open(client, asker, host_id, echo), 403, "approval_required")
    closings = await _audit(client, asker, event="forward_closed")
    assert {r["lease_id"] for r in closings} == {revoked, expiring}


async def test_another_tenant_sees_no_forward(server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab) -> None:
    team = await _team(server)
    echo = ssh_lab.echo.destination
    host_id = await _prod_host(client, team[0], ssh_lab, "prod-mine", [echo])
    await _lease(client, team, host_id, [echo])
    forward = (await _open(client, team[0], host_id, echo)).json()
    other = Operator(await operator_key(server.uc, "fwd-other"))
    assert_error(await client.get(f"{FORWARDS}/{forward['id']}", headers=other.headers), 404)
    assert_error(await client.delete(f"{FORWARDS}/{forward['id']}", headers=other.headers), 404)
    assert_error(await _open(client, other, host_id, echo), 404)
    assert (await client.get(FORWARDS, headers=other.headers)).json()["items"] == []
    assert (await client.get(f"{FORWARDS}/{forward['id']}", headers=team[0].headers)).json()["state"] == "open"
    assert (await client.delete(f"{FORWARDS}/{forward['id']}", headers=team[0].headers)).status_code == 200


async def test_on_a_certificate_host_only_the_forward_certificate_permits_forwarding(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    asker = team[0]
    ports = server.uc.ports
    ca = await ports.ssh_user_ca.load()
    empty = await ports.ssh_certificates.revocation_list(ca, [])
    echo = ssh_lab.echo.destination
    async with certified_sshd(ca.public_key, empty, permit_open(ssh_lab.echo)) as lab:
        body = _host_body(lab.server, "prod-ca-fwd", tier="prod", certificate_login=True, forwards=[echo])
        host_id = str((await _add_host(client, asker, body))["id"])
        lease_id = await _lease(client, team, host_id, [echo])
        opened = await _open(client, asker, host_id, echo)
        assert opened.status_code == 201, opened.text
        reader, writer = await _connect(opened.json())
        writer.write(b"certified")
        assert await asyncio.wait_for(reader.readexactly(9), 20) == b"certified"
        writer.close()
        assert await _log_says(lab, f"ID lease-{lease_id}")

        tenant_id = (await server.uc.authenticate(asker.key, asker.user)).tenant_id
        async with ports.uow(read_only=True) as uow:
            host, lease = await uow.ssh_hosts.get(tenant_id, host_id), await uow.ssh_leases.get(tenant_id, lease_id)
        assert host is not None
        assert lease is not None
        s = lab.server
        target = SshTarget(address=s.address, port=s.port, login=s.login, host_key=s.host_key)
        certificates = server.uc.infra_ssh.open_forward.certificates
        for run_cert in (
            await certificates.for_run(host, None, "no-forwarding", 10, "echo run"),
            await certificates.for_run(host, lease, "no-forwarding", 10, "echo run"),
        ):
            with pytest.raises(RemoteFailed) as refused:
                await AsyncsshClient().forward(
                    target, run_cert.private_key, ("127.0.0.1", ssh_lab.echo.port), run_cert.certificate
                )
            assert refused.value.kind == "forward_refused"
        forward_cert = await certificates.for_forward(host, lease)
        session = await AsyncsshClient().run(target, forward_cert.private_key, ECHO, forward_cert.certificate)
        assert session.exit_status != 0  # its forced command refuses any session
        assert b"replayed" not in session.stdout.head
