"""The SSH certificate port against real OpenSSH: a host that trusts only the user CA runs a command with a
fresh certificate (its forced command whatever was asked), and sshd itself refuses the certificate once it
has expired ("Certificate invalid: expired") and once its key id is in the KRL the host reads ("revoked"),
and a certificate for another login. The KRL reaches the host through the file distribution adapter."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.secret_box import AesGcmSecretBox
from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.ssh_user_ca import SqlUserCa
from tesserra_adapters.ssh.certificates import AsyncsshCertificateAuthority, KrlFiles, SealedCaFile
from tesserra_adapters.ssh.client import AsyncsshClient
from tesserra_core.domain.infra_ssh import Host, HostTier
from tesserra_core.errors import RemoteFailed
from tesserra_core.ports.ssh import SshCommand, SshTarget
from tesserra_core.ports.ssh_certificates import CertificateRequest, UserCertificate
from tests.servers.sshd import CertifiedSshd, certified_sshd

CA = AsyncsshCertificateAuthority()
ECHO = SshCommand(argv=("echo", "asked"), time_limit_seconds=10, output_cap_bytes=4096)


def _target(lab: CertifiedSshd) -> SshTarget:
    s = lab.server
    return SshTarget(address=s.address, port=s.port, login=s.login, host_key=s.host_key)


def _host(lab: CertifiedSshd) -> Host:
    now = datetime.now(UTC)
    s = lab.server
    return Host(
        id="01HOSTCERTIFIED00000000000",
        tenant_id="01TENANT000000000000000000",
        name="prod-ca",
        address=s.address,
        port=s.port,
        login=s.login,
        host_key=s.host_key,
        public_key="",
        sealed_key="",
        tier=HostTier.PROD,
        labels=(),
        actions=(),
        forwards=(),
        max_lease_seconds=3600,
        approvers_required=2,
        created_at=now,
        updated_at=now,
    )


async def _run(lab: CertifiedSshd, cert: UserCertificate) -> str:
    result = await AsyncsshClient().run(_target(lab), cert.private_key, ECHO, cert.certificate)
    return result.stdout.head.decode()


async def _log_says(lab: CertifiedSshd, text: str, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in await asyncio.to_thread(lab.server.log.read_text, errors="replace"):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_sshd_enforces_lease_certificates_their_end_and_the_krl() -> None:
    ca = CA.new_ca()
    async with certified_sshd(ca.public_key, await CA.revocation_list(ca, [])) as lab:
        later = datetime.now(UTC) + timedelta(minutes=10)
        login = lab.server.login
        plain = CA.issue(ca, CertificateRequest(key_id="lease-plain", principal=login, valid_before=later))
        assert await _run(lab, plain) == "asked\n"
        with pytest.raises(RemoteFailed) as no_certificate:  # the host takes certificates only
            await AsyncsshClient().run(_target(lab), lab.server.user_key.private, ECHO)
        assert no_certificate.value.kind == "auth_failed"
        forced = CA.issue(
            ca,
            CertificateRequest(key_id="lease-forced", principal=login, valid_before=later, force_command="echo forced"),
        )
        assert await _run(lab, forced) == "forced\n"
        stranger = CA.issue(ca, CertificateRequest(key_id="lease-root", principal="root", valid_before=later))
        with pytest.raises(RemoteFailed) as wrong_login:
            await _run(lab, stranger)
        assert wrong_login.value.kind == "auth_failed"
        other_ca = CA.new_ca()
        foreign = CA.issue(other_ca, CertificateRequest(key_id="lease-x", principal=login, valid_before=later))
        with pytest.raises(RemoteFailed):
            await _run(lab, foreign)

        soon = datetime.now(UTC) + timedelta(seconds=3)
        short = CA.issue(ca, CertificateRequest(key_id="lease-short", principal=login, valid_before=soon))
        assert await _run(lab, short) == "asked\n"
        await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 1.5)
        with pytest.raises(RemoteFailed) as expired:
            await _run(lab, short)
        assert expired.value.kind == "auth_failed"
        assert await _log_says(lab, "Certificate invalid: expired")

        revoked = CA.issue(ca, CertificateRequest(key_id="lease-revoked", principal=login, valid_before=later))
        assert await _run(lab, revoked) == "asked\n"
        await KrlFiles(lambda host: lab.revoked_keys).publish(
            _host(lab), await CA.revocation_list(ca, ["lease-revoked"])
        )
        with pytest.raises(RemoteFailed) as refused:
            await _run(lab, revoked)
        assert refused.value.kind == "auth_failed"
        assert await _log_says(lab, "revoked")
        assert await _run(lab, plain) == "asked\n"  # the KRL names only the revoked lease


async def test_krl_files_land_per_tenant_and_host_atomically(tmp_path: Path) -> None:
    files = KrlFiles.under(tmp_path)
    lab_host = Host(
        id="h1", tenant_id="t1", name="n", address="a", port=22, login="l", host_key="k", public_key="",
        sealed_key="", tier=HostTier.DEV, labels=(), actions=(), forwards=(), max_lease_seconds=60,
        approvers_required=1, created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
    )  # fmt: skip
    ca = CA.new_ca()
    krl = await CA.revocation_list(ca, ["lease-a", "lease-b"])
    await files.publish(lab_host, krl)
    written = tmp_path / "t1" / "h1.krl"
    assert written.read_bytes() == krl
    assert [p.name for p in written.parent.iterdir()] == ["h1.krl"]
    assert krl.startswith(b"SSHKRL")


async def test_the_user_ca_is_sealed_at_rest_made_once_and_read_back(tmp_path: Path) -> None:
    box = AesGcmSecretBox.from_secrets(b"a-test-secret-key-that-is-long-enough-0123456789")
    path = tmp_path / "ssh" / "user_ca.sealed"
    first = await SealedCaFile(path, box, CA).load()
    again = await SealedCaFile(path, box, CA).load()
    assert again == first
    stored = path.read_bytes()
    assert b"PRIVATE KEY" not in stored
    assert first.private_key not in stored
    assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_the_database_user_ca_is_made_once_for_every_node_at_once_and_sealed(
    sql_engine: AsyncEngine,
) -> None:
    engine = sql_engine
    box = AesGcmSecretBox.from_secrets(b"a-test-secret-key-that-is-long-enough-0123456789")
    async with engine.begin() as conn:
        await conn.execute(delete(t.ssh_user_ca))
    # eight "nodes" (each its own store) load it at once: one CA is made and all of them sign with it
    loaded = await asyncio.gather(*[SqlUserCa(engine, box, CA).load() for _ in range(8)])
    assert len({ca.public_key for ca in loaded}) == 1
    assert await SqlUserCa(engine, box, CA).load() == loaded[0]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(t.ssh_user_ca.c.sealed))).scalars().all()
    assert len(rows) == 1
    assert "PRIVATE KEY" not in rows[0]
    assert loaded[0].private_key.decode() not in rows[0]


async def test_the_database_user_ca_adopts_the_ca_file_a_node_kept_before(
    sql_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = sql_engine
    box = AesGcmSecretBox.from_secrets(b"a-test-secret-key-that-is-long-enough-0123456789")
    path = tmp_path / "ssh" / "user_ca.sealed"
    former = await SealedCaFile(path, box, CA).load()
    async with engine.begin() as conn:
        await conn.execute(delete(t.ssh_user_ca))
    assert await SqlUserCa(engine, box, CA, legacy=path).load() == former  # its hosts keep trusting it
    assert await SqlUserCa(engine, box, CA, legacy=tmp_path / "none").load() == former
