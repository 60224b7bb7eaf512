"""A prod host that trusts only the server's user CA, over real sockets and real sshd: runs log in with
short-lived certificates (run-<id> without a lease, lease-<id> under one), and sshd itself refuses a lease's
certificate after the lease is revoked (the KRL the revocation wrote) and after it expires."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from tesserra_adapters.ssh.certificates import KrlFiles
from tesserra_adapters.ssh.client import AsyncsshClient, remote_command
from tesserra_core.domain.infra_ssh import Host
from tesserra_core.domain.infra_ssh_leases import Lease
from tesserra_core.errors import RemoteFailed
from tesserra_core.ports.ssh import SshCommand, SshTarget
from tesserra_core.ports.ssh_certificates import UserCertificate
from tests.drivers.http.test_infra_ssh import BASE, Operator, _add_host, _host_body
from tests.servers.sshd import CertifiedSshd, SshLab, certified_sshd
from tests.support import LiveServer
from tests.unit.infra_ssh_support import operator_keys

ECHO = SshCommand(argv=("echo", "replayed"), time_limit_seconds=10, output_cap_bytes=1024)


async def _log_says(lab: CertifiedSshd, text: str, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in await asyncio.to_thread(lab.server.log.read_text, errors="replace"):
            return True
        await asyncio.sleep(0.05)
    return False


async def _stored(server: LiveServer, ops: Operator, host_id: str, lease_id: str) -> tuple[Host, Lease]:
    tenant_id = (await server.uc.authenticate(ops.key, ops.user)).tenant_id
    async with server.uc.ports.uow(read_only=True) as uow:
        host, lease = await uow.ssh_hosts.get(tenant_id, host_id), await uow.ssh_leases.get(tenant_id, lease_id)
    assert host is not None
    assert lease is not None
    return host, lease


async def _lease_certificate(server: LiveServer, host: Host, lease: Lease) -> UserCertificate:
    """The certificate the server issues for a run under ``lease`` (the same call runs make)."""
    return await server.uc.infra_ssh.run_action.certificates.for_run(host, lease, "replay", 10, remote_command(ECHO))


async def _replay(lab: CertifiedSshd, cert: UserCertificate) -> str:
    s = lab.server
    target = SshTarget(address=s.address, port=s.port, login=s.login, host_key=s.host_key)
    return (await AsyncsshClient().run(target, cert.private_key, ECHO, cert.certificate)).stdout.head.decode()


async def _lease(client: httpx.AsyncClient, team: list[Operator], host_id: str, **more: Any) -> dict[str, Any]:
    asker, first, second = team
    body = {"host_ids": [host_id], "actions": ["touch_file"], "reason": "certs", "max_uses": 5} | more
    lease = (await client.post(f"{BASE}/admin-session", json=body, headers=asker.headers)).json()
    for approver in (first, second):
        approved = await client.post(f"{BASE}/admin-session/{lease['id']}/approve", headers=approver.headers)
        assert approved.status_code == 200, approved.text
    return dict(approved.json())


async def test_sshd_refuses_a_lease_certificate_after_revocation_and_after_expiry(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    team = [Operator(k, f"person{i}@example.com") for i, k in enumerate(await operator_keys(server.uc, 3, "ca"))]
    asker = team[0]
    shown = (await client.get(f"{BASE}/user-ca", headers=asker.headers)).json()
    ports = server.uc.ports
    ca = await ports.ssh_user_ca.load()
    assert shown["public_key"] == ca.public_key
    async with certified_sshd(ca.public_key, await ports.ssh_certificates.revocation_list(ca, [])) as lab:
        body = _host_body(lab.server, "prod-ca", tier="prod", certificate_login=True)
        host = await _add_host(client, asker, body)
        assert host["certificate_login"] is True
        krl = ports.ssh_krl
        assert isinstance(krl, KrlFiles)
        tenant_id = (await server.uc.authenticate(asker.key, asker.user)).tenant_id
        async with ports.uow(read_only=True) as uow:
            as_stored = await uow.ssh_hosts.get(tenant_id, host["id"])
        assert as_stored is not None
        published = krl.path_of(as_stored)
        await krl.publish(as_stored, await ports.ssh_certificates.revocation_list(ca, []))
        await asyncio.to_thread(_point_at, lab, published)

        read = await client.post(
            f"{BASE}/runs", json={"host_id": host["id"], "action": "uptime"}, headers=asker.headers
        )
        assert read.status_code == 200, read.text
        assert await _log_says(lab, f"ID run-{read.json()['id']}")

        revoked = await _lease(client, team, host["id"])
        touch = {"host_id": host["id"], "action": "touch_file", "parameters": {"path": "/tmp/tesserra-ca-touch"}}
        ran = await client.post(f"{BASE}/runs", json=touch, headers=asker.headers)
        assert ran.status_code == 200, ran.text
        assert await _log_says(lab, f"ID lease-{revoked['id']}")
        h, lease = await _stored(server, asker, host["id"], revoked["id"])
        kept = await _lease_certificate(server, h, lease)
        assert await _replay(lab, kept) == "replayed\n"
        gone = await client.delete(f"{BASE}/admin-session/{revoked['id']}", headers=team[1].headers)
        assert gone.status_code == 200, gone.text
        with pytest.raises(RemoteFailed) as refused:
            await _replay(lab, kept)
        assert refused.value.kind == "auth_failed"
        assert await _log_says(lab, "revoked")

        short = await _lease(client, team, host["id"], duration_seconds=5)
        h, lease = await _stored(server, asker, host["id"], short["id"])
        expiring = await _lease_certificate(server, h, lease)
        assert await _replay(lab, expiring) == "replayed\n"
        assert lease.ends_at is not None
        await asyncio.sleep(max(0.0, lease.ends_at.timestamp() - time.time()) + 1.5)
        with pytest.raises(RemoteFailed):
            await _replay(lab, expiring)
        assert await _log_says(lab, "Certificate invalid: expired")
        late = await client.post(f"{BASE}/runs", json=touch, headers=asker.headers)
        assert late.status_code == 403, late.text


def _point_at(lab: CertifiedSshd, published: Path) -> None:
    """The test host reads the KRL file the server publishes for it (an operator would sync it there)."""
    lab.revoked_keys.unlink()
    lab.revoked_keys.symlink_to(published)


async def test_a_stolen_run_certificate_runs_only_its_own_command_and_forwards_nothing(
    server: LiveServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate of one run forces that run's command line: used to run another command, sshd runs
    the forced one (the other leaves no trace); it opens no forward and no pty."""
    [ops] = [Operator(k) for k in await operator_keys(server.uc, 1, "forced")]
    ports = server.uc.ports
    ca = await ports.ssh_user_ca.load()
    authority = server.uc.infra_ssh.run_action.certificates.authority
    issued: list[UserCertificate] = []
    issue = authority.issue

    def stealing(*args: Any, **kwargs: Any) -> UserCertificate:
        issued.append(issue(*args, **kwargs))
        return issued[-1]

    monkeypatch.setattr(authority, "issue", stealing)
    async with certified_sshd(ca.public_key, await ports.ssh_certificates.revocation_list(ca, [])) as lab:
        host = await _add_host(client, ops, _host_body(lab.server, "forced-ca", tier="prod", certificate_login=True))
        body = {"host_id": host["id"], "action": "echo", "parameters": {"message": "only this"}}
        ran = await client.post(f"{BASE}/runs", json=body, headers=ops.headers)
        assert ran.status_code == 200, ran.text
        assert ran.json()["stdout"]["text"] == "only this\n"
        [stolen] = issued
        certificate = asyncssh.import_certificate(stolen.certificate)
        echo = ports.ssh_actions.get("echo")
        assert echo is not None
        sent = SshCommand(argv=("echo", "only this"), time_limit_seconds=echo.time_limit_seconds, output_cap_bytes=1)
        options = certificate.options  # type: ignore[attr-defined]  # critical options and extensions
        assert options["force-command"] == remote_command(sent)
        for extension in ("permit-port-forwarding", "permit-pty", "permit-agent-forwarding", "permit-X11-forwarding"):
            assert extension not in options
        marker = f"/tmp/tesserra-stolen-{os.getpid()}-{time.monotonic_ns()}"
        s = lab.server
        async with asyncssh.connect(
            s.address,
            port=s.port,
            username=s.login,
            client_keys=[(asyncssh.import_private_key(stolen.private_key), certificate)],
            known_hosts=([asyncssh.import_public_key(s.host_key)], [], []),
            config=None,
            agent_path=None,
        ) as conn:
            other = await conn.run(f"touch {marker}; echo took over", check=False)
            assert other.stdout == "only this\n"  # sshd ran the forced command instead
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.open_connection(s.address, s.port)  # a listening destination: refused all the same
        assert not await asyncio.to_thread(os.path.exists, marker)


async def test_the_served_krl_is_made_from_the_database_and_sshd_refuses_what_it_lists(
    server: LiveServer, client: httpx.AsyncClient, ssh_lab: SshLab
) -> None:
    """GET /hosts/{id}/krl: what any node answers from the revocations in the database (issue 15); written
    to the host's RevokedKeys file, it makes sshd refuse a revoked lease's certificate."""
    team = [Operator(k, f"person{i}@example.com") for i, k in enumerate(await operator_keys(server.uc, 3, "krl"))]
    asker = team[0]
    ports = server.uc.ports
    ca = await ports.ssh_user_ca.load()
    async with certified_sshd(ca.public_key, await ports.ssh_certificates.revocation_list(ca, [])) as lab:
        host = await _add_host(client, asker, _host_body(lab.server, "prod-krl", tier="prod", certificate_login=True))
        url = f"{BASE}/hosts/{host['id']}/krl"
        before = await client.get(url, headers=asker.headers)
        assert before.status_code == 200, before.text
        assert before.headers["content-type"] == "application/octet-stream"
        assert before.content.startswith(b"SSHKRL")
        lease = await _lease(client, team, host["id"])
        h, stored = await _stored(server, asker, host["id"], lease["id"])
        kept = await _lease_certificate(server, h, stored)
        await asyncio.to_thread(lab.revoked_keys.write_bytes, before.content)
        assert await _replay(lab, kept) == "replayed\n"
        gone = await client.delete(f"{BASE}/admin-session/{lease['id']}", headers=team[1].headers)
        assert gone.status_code == 200, gone.text
        after = await client.get(url, headers=asker.headers)
        assert after.status_code == 200, after.text
        assert f"lease-{lease['id']}".encode() in after.content
        assert f"lease-{lease['id']}".encode() not in before.content
        await asyncio.to_thread(lab.revoked_keys.write_bytes, after.content)
        with pytest.raises(RemoteFailed) as refused:
            await _replay(lab, kept)
        assert refused.value.kind == "auth_failed"

        stranger = Operator((await operator_keys(server.uc, 1, "krl-other"))[0])
        assert (await client.get(url, headers=stranger.headers)).status_code == 404
        assert (await client.get(url, headers={"X-API-Key": asker.key})).status_code == 400
        assert (await client.get(f"{BASE}/hosts/no-such-host/krl", headers=asker.headers)).status_code == 404
