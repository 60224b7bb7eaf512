"""The SSH certificate port: a user certificate authority whose certificates sshd itself enforces (principal,
end time, forced command, port forwarding), and the key revocation lists (KRL) that make sshd refuse a
certificate before its end; plus where a host's KRL is shipped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from tesserra_core.domain.infra_ssh import Host


class UserCa(msgspec.Struct, frozen=True, kw_only=True):
    private_key: bytes
    """OpenSSH private key: seal it at rest, never show it."""
    public_key: str
    """``<algorithm> <base64>``: what a host's ``TrustedUserCAKeys`` file holds."""


class CertificateRequest(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    """Names the certificate in sshd's log and in a KRL (``id:`` lines): ``lease-<lease id>``."""
    principal: str
    """The login the certificate may log in as."""
    valid_before: datetime
    force_command: str | None = None
    permit_port_forwarding: bool = False


class UserCertificate(msgspec.Struct, frozen=True, kw_only=True):
    """A fresh user key and its certificate: send both (``client_keys=[(key, certificate)]``)."""

    private_key: bytes
    certificate: str
    key_id: str


class SshCertificateAuthority(Protocol):
    def new_ca(self) -> UserCa: ...

    def issue(self, ca: UserCa, request: CertificateRequest) -> UserCertificate:
        """A certificate for a new key, valid from a minute ago (clock skew) until ``valid_before``, with no
        PTY, agent, X11 or user-rc rights."""
        ...

    async def revocation_list(self, ca: UserCa, key_ids: Sequence[str]) -> bytes:
        """A KRL revoking every certificate of ``ca`` with one of these key ids."""
        ...


class UserCaStore(Protocol):
    async def load(self) -> UserCa:
        """This server's user CA, made (and sealed at rest) on first use."""
        ...


class KrlDistribution(Protocol):
    async def publish(self, host: Host, krl: bytes) -> None:
        """Ship ``krl`` to where ``host``'s sshd reads ``RevokedKeys``."""
        ...
