"""Logging in with short-lived OpenSSH certificates, for hosts that trust this server's user CA
(``Host.certificate_login``): each run gets a fresh key and a certificate for the host's login, valid until its
lease ends (key id ``lease-<id>``) or, without a lease, for the action's time limit and a minute (key id
``run-<id>``); a revoked lease's key id goes into the KRL of every certificate host of its scope, so sshd
itself refuses the certificate until its end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.infra_ssh import Host
from tesserra_core.domain.infra_ssh_leases import Lease
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.ssh_certificates import (
    CertificateRequest,
    KrlDistribution,
    SshCertificateAuthority,
    UserCaStore,
    UserCertificate,
)
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.infra_ssh_guard import host_of, operator_of

RUN_MARGIN = timedelta(minutes=1)
FORWARD_ONLY = "/bin/false"
"""The forced command of a forward's certificate: it opens channels, never a session."""


def lease_key_id(lease_id: str) -> str:
    return f"lease-{lease_id}"


@dataclass(frozen=True, slots=True)
class LoginCertificates:
    authority: SshCertificateAuthority
    user_ca: UserCaStore
    krl: KrlDistribution
    clock: Clock

    async def for_run(
        self, host: Host, lease: Lease | None, run_id: str, time_limit: int, command_line: str
    ) -> UserCertificate:
        """A fresh certificate for one run: its principal the host's login, valid until the lease ends (or the
        run's time limit passes), forcing exactly ``command_line`` (the line the run sends), and permitting
        no port, agent or X11 forwarding and no pty: stolen, it runs that command and nothing else."""
        ca = await self.user_ca.load()
        if lease is not None and lease.ends_at is not None:
            key_id, until = lease_key_id(lease.id), lease.ends_at
        else:
            key_id, until = f"run-{run_id}", self.clock.now() + timedelta(seconds=time_limit) + RUN_MARGIN
        request = CertificateRequest(
            key_id=key_id,
            principal=host.login,
            valid_before=until,
            force_command=command_line,
            permit_port_forwarding=False,
        )
        return self.authority.issue(ca, request)

    async def for_forward(self, host: Host, lease: Lease) -> UserCertificate:
        """A certificate for a forward under ``lease``: until the lease's end, key id ``lease-<id>`` (so the
        lease's KRL entry refuses it too), the only one that permits port forwarding; its forced command
        refuses any session."""
        assert lease.ends_at is not None
        ca = await self.user_ca.load()
        request = CertificateRequest(
            key_id=lease_key_id(lease.id),
            principal=host.login,
            valid_before=lease.ends_at,
            force_command=FORWARD_ONLY,
            permit_port_forwarding=True,
        )
        return self.authority.issue(ca, request)

    async def publish_revocations(self, uow: UnitOfWorkFactory, tenant_id: str, host_ids: tuple[str, ...]) -> None:
        """Write, for each certificate host among ``host_ids``, the KRL of the tenant's revoked leases that
        have not reached their end (an ended certificate is refused by sshd anyway)."""
        async with uow(read_only=True) as reading:
            hosts = [h for h in [await reading.ssh_hosts.get(tenant_id, i) for i in host_ids] if h is not None]
        for host in hosts:
            if host.certificate_login:
                await self.krl.publish(host, await self.revocation_list(uow, host))

    async def revocation_list(self, uow: UnitOfWorkFactory, host: Host) -> bytes:
        """``host``'s KRL, made afresh from the revocations in the database: the same on every node."""
        async with uow(read_only=True) as reading:
            revoked = await reading.ssh_leases.revoked_before_end(host.tenant_id, self.clock.now())
        key_ids = [lease_key_id(x.id) for x in revoked if host.id in x.host_ids]
        return await self.authority.revocation_list(await self.user_ca.load(), key_ids)


class UserCaView(msgspec.Struct, frozen=True, kw_only=True):
    public_key: str
    """Put it in the host's ``TrustedUserCAKeys`` file."""
    krl_hint: str
    """How the host's ``RevokedKeys`` file is kept current."""


@dataclass(frozen=True, slots=True)
class GetUserCa:
    """This server's user CA (made on first use, its key sealed at rest): the public key a certificate host
    trusts (``TrustedUserCAKeys``), and where its KRL (``RevokedKeys``) comes from."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    certificates: LoginCertificates

    async def __call__(self, actor: Principal) -> UserCaView:
        operator_of(actor, self.scope)
        ca = await self.certificates.user_ca.load()
        hint = (
            "GET /api/infra/ssh/hosts/<host id>/krl answers the host's current KRL (any node, from the database);"
            " the node that records a revocation also writes <data_dir>/ssh/krl/<tenant id>/<host id>.krl"
        )
        return UserCaView(public_key=ca.public_key, krl_hint=hint)


@dataclass(frozen=True, slots=True)
class GetHostKrl:
    """A host's key revocation list (what its sshd's ``RevokedKeys`` file holds), made afresh from the
    revocations in the database, so whichever node answers serves the same list."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory
    certificates: LoginCertificates

    async def __call__(self, actor: Principal, host_id: str) -> bytes:
        operator_of(actor, self.scope)
        async with self.uow(read_only=True) as uow:
            host = await host_of(uow, actor, host_id)
        return await self.certificates.revocation_list(self.uow, host)
