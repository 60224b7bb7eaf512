"""The SSH port: run an argument vector on a host whose key is pinned, with a sealed credential opened
only for the call; and the persistence of hosts and of the audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

import msgspec

from tesserra_core.domain.infra_ssh import Host, RemoteKind
from tesserra_core.domain.infra_ssh_audit import AuditFilter, AuditRecord, ChainHead, Link
from tesserra_core.domain.infra_ssh_leases import Lease, LeaseFilter, LeaseState
from tesserra_core.domain.paging import PageRequest

KILL_AFTER_SECONDS = 2
"""After the time limit (or a cancel) a process that ignores SIGTERM is killed this much later."""


class SshTarget(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    port: int
    login: str
    host_key: str
    """The pinned host key (OpenSSH public key line): any other key is refused before authenticating."""


class SshCommand(msgspec.Struct, frozen=True, kw_only=True):
    argv: tuple[str, ...]
    """Each word reaches the remote program as exactly one argument."""
    time_limit_seconds: int
    output_cap_bytes: int


class Stream(msgspec.Struct, frozen=True, kw_only=True):
    """One output stream: its first ``output_cap_bytes`` (``head``), and the size and SHA-256 of all of it."""

    head: bytes
    size: int
    sha256: str

    @property
    def truncated(self) -> bool:
        return self.size > len(self.head)


class SshResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a command that started ended: its exit status, or the signal that ended it; ``timed_out`` when
    the time limit ended it (on the host)."""

    exit_status: int | None
    signal: str | None
    timed_out: bool
    stdout: Stream
    stderr: Stream
    duration_ms: int

    @property
    def failure(self) -> RemoteKind | None:
        """None when it exited 0; otherwise how it failed."""
        if self.timed_out:
            return RemoteKind.TIMEOUT
        if self.signal is not None:
            return RemoteKind.SIGNAL
        if self.exit_status != 0:
            return RemoteKind.EXIT_NONZERO
        return None


class SshForward(Protocol):
    """A local forward: a listener on 127.0.0.1 (``local_port``) whose every connection is carried over one
    SSH connection to a fixed destination, with the bytes counted both ways."""

    @property
    def local_port(self) -> int: ...

    @property
    def bytes_sent(self) -> int:
        """From the local clients to the destination."""
        ...

    @property
    def bytes_received(self) -> int:
        """From the destination to the local clients."""
        ...

    @property
    def connections(self) -> int:
        """Local connections accepted so far."""
        ...

    async def close(self) -> None:
        """Stop listening, end every connection (its client sees end of file) and the SSH connection."""
        ...

    async def wait_closed(self) -> None:
        """Returns once the forward is closed, or its SSH connection ended by itself."""
        ...


class SshClient(Protocol):
    async def forward(
        self,
        target: SshTarget,
        private_key: bytes,
        destination: tuple[str, int],
        certificate: str | None = None,
    ) -> SshForward:
        """Log in to ``target`` (as ``run`` does), check that the host opens a channel to ``destination``
        (host, port) by opening one and closing it at once, then listen on 127.0.0.1 on a port of the
        system's choosing. Raises ``RemoteFailed`` (unreachable, auth_failed, host_key_mismatch, or
        forward_refused when the host will not open the channel) and then listens on no port."""
        ...

    async def run(
        self, target: SshTarget, private_key: bytes, command: SshCommand, certificate: str | None = None
    ) -> SshResult:
        """Run ``command`` on ``target`` as its login with ``private_key`` (OpenSSH format), offered with its
        OpenSSH user ``certificate`` when one is given (the host then checks it against its user CA).

        The time limit is enforced on the host: when it passes, or when this call is cancelled, the remote
        process is sent SIGTERM and, ``KILL_AFTER_SECONDS`` later, SIGKILL. Output beyond the cap is read,
        hashed and counted, never kept. A command that ran returns its result whatever its exit status;
        raises ``RemoteFailed`` (kind unreachable, auth_failed or host_key_mismatch) when it could not
        start. A host key other than the pinned one is refused before any credential is offered."""
        ...

    def command_line(self, command: SshCommand) -> str:
        """The exact line ``run`` sends in its exec request for ``command`` (its argv quoted, wrapped in the
        time limit): what a run's certificate forces, so that the certificate runs nothing else."""
        ...

    def public_key_of(self, private_key: bytes) -> str:
        """The OpenSSH public key line of ``private_key``; ValidationFailed if it is not a private key
        (unencrypted, OpenSSH or PKCS#8 PEM)."""
        ...

    def normalized_host_key(self, line: str) -> str:
        """``line`` as ``<algorithm> <base64>`` if it is an OpenSSH public key; ValidationFailed otherwise."""
        ...


class SshHostRepository(Protocol):
    async def add(self, host: Host) -> None:
        """Raises ``Conflict`` if the tenant has a host of that name."""
        ...

    async def get(self, tenant_id: str, host_id: str) -> Host | None: ...

    async def update(self, host: Host) -> None:
        """Raises ``Conflict`` if the new name is taken."""
        ...

    async def remove(self, tenant_id: str, host_id: str) -> bool: ...

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Host], int]:
        """A page of the tenant's hosts by name, and the total."""
        ...


class SshLeaseRepository(Protocol):
    async def add(self, lease: Lease) -> None: ...

    async def get(self, tenant_id: str, lease_id: str) -> Lease | None: ...

    async def update(self, lease: Lease) -> None: ...

    async def revoked_before_end(self, tenant_id: str, now: datetime) -> list[Lease]:
        """Revoked leases whose end is after ``now`` (their certificates are still valid but for the KRL)."""
        ...

    async def of_user(self, tenant_id: str, user_id: str, state: LeaseState) -> list[Lease]:
        """The leases of one operator in one state, oldest first."""
        ...

    async def list(
        self, tenant_id: str, page: PageRequest, where: LeaseFilter = LeaseFilter()
    ) -> tuple[list[Lease], int]:
        """Newest first, those ``where`` keeps."""
        ...


class SshAuditRepository(Protocol):
    """Append-only: nothing here changes or removes a record."""

    async def last(self, tenant_id: str) -> AuditRecord | None:
        """The tenant's record of the highest ``seq``."""
        ...

    async def head(self, tenant_id: str) -> ChainHead | None:
        """The ``seq`` and ``hash`` of the tenant's last record (None: no record yet)."""
        ...

    async def append(self, record: AuditRecord) -> None:
        """Add the record only if the tenant's chain still ends at ``record.prev_hash`` (GENESIS: it has no
        record yet), checked and written in one step; Conflict otherwise (the chain moved on, or this ``seq``
        is taken), and nothing is written: a chain never forks and never has a gap."""
        ...

    async def get(self, tenant_id: str, record_id: str) -> AuditRecord | None: ...

    async def query(self, tenant_id: str, where: AuditFilter, page: PageRequest) -> tuple[list[AuditRecord], int]:
        """A page of the tenant's records that match, newest first, and the total."""
        ...

    def chain(self, tenant_id: str, batch: int = 5000) -> AsyncIterator[list[Link]]:
        """Every record of the tenant in ``seq`` order as plain values (``Link``), ``batch`` at a time."""
        ...
