"""Local forwards through a host, bound to an approval lease: a listener on 127.0.0.1 of this server whose
connections reach one destination (``host:port``) that both the host and the caller's active lease allow.
Every attempt to open one, allowed or refused, is one audit record, and its closing another (with the bytes
counted both ways). A forward closes when asked, when its SSH connection ends and when its lease ends
(expiry or revocation, on any worker: the lease's one guard, ``LeaseBook.guard``, ends its runs and its
forwards together). Forwards live in this worker's ``ForwardBoard`` (like runs in flight)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.infra_ssh import Host, Outcome, RemoteKind, credential_context
from tesserra_core.domain.infra_ssh_audit import AuditEvent, Via
from tesserra_core.domain.infra_ssh_leases import Lease
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Forbidden, NotFound, RemoteFailed, SecretUnreadable, TesserraError, ValidationFailed
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.ssh import SshClient, SshForward, SshTarget
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.infra_ssh_audit import AuditTrail, Author
from tesserra_core.usecases.infra_ssh_forward_views import ForwardState, ForwardView, NewForward, split_destination
from tesserra_core.usecases.infra_ssh_guard import operator_of

if TYPE_CHECKING:
    from tesserra_core.usecases.infra_ssh_certificates import LoginCertificates
    from tesserra_core.usecases.infra_ssh_leases import LeaseBook

KEEP_CLOSED = 1000
"""Closed forwards this worker still shows (with their counts)."""
LOCALHOST = "127.0.0.1"


def _forward_not_found() -> NotFound:
    return NotFound("no such forward", code="forward_not_found")


@dataclass
class _Forward:
    view: ForwardView
    tenant_id: str
    author: Author
    via: Via
    handle: SshForward
    watcher: asyncio.Task[None] | None = None
    closing: asyncio.Task[ForwardView] | None = None

    def shown(self) -> ForwardView:
        if self.view.state is ForwardState.CLOSED:
            return self.view
        h = self.handle
        return msgspec.structs.replace(
            self.view, bytes_sent=h.bytes_sent, bytes_received=h.bytes_received, connections=h.connections
        )


@dataclass
class ForwardBoard:
    """This worker's forwards: those open, and the last ``KEEP_CLOSED`` closed ones. Each open forward is
    watched until its SSH connection ends; its lease's end is watched by the lease's guard
    (``LeaseBook.guard``), which closes it with the runs of that lease (``close_lease``)."""

    audit: AuditTrail
    clock: Clock
    _forwards: OrderedDict[str, _Forward] = field(default_factory=OrderedDict)

    def add(self, forward: _Forward) -> None:
        self._forwards[forward.view.id] = forward
        forward.watcher = asyncio.create_task(self._watch(forward), name=f"ssh-forward-{forward.view.id}")

    def get(self, tenant_id: str, forward_id: str) -> _Forward | None:
        found = self._forwards.get(forward_id)
        return found if found is not None and found.tenant_id == tenant_id else None

    def of_tenant(self, tenant_id: str) -> list[_Forward]:
        return [f for f in reversed(self._forwards.values()) if f.tenant_id == tenant_id]

    async def close(self, forward: _Forward, by: str) -> ForwardView:
        """Close it (once: later calls wait for the first) and write its closing record."""
        if forward.closing is None:
            forward.closing = asyncio.create_task(self._close(forward, by), name=f"ssh-forward-close-{forward.view.id}")
        return await asyncio.shield(forward.closing)

    def open_under(self, tenant_id: str, lease_id: str) -> bool:
        """Whether a forward of this worker is still open under the lease."""
        return any(
            f.tenant_id == tenant_id and f.view.lease_id == lease_id and f.view.state is ForwardState.OPEN
            for f in self._forwards.values()
        )

    async def close_lease(self, tenant_id: str, lease_id: str, by: str) -> None:
        """Close every forward of a lease that ended."""
        ending = [f for f in self._forwards.values() if f.tenant_id == tenant_id and f.view.lease_id == lease_id]
        if ending:
            await asyncio.gather(*(self.close(f, by) for f in ending))

    async def aclose(self) -> None:
        """Close every open forward (the server is stopping)."""
        still = [f for f in self._forwards.values() if f.view.state is ForwardState.OPEN]
        if still:
            await asyncio.gather(*(self.close(f, "shutdown") for f in still), return_exceptions=True)

    async def _watch(self, forward: _Forward) -> None:
        with contextlib.suppress(Exception):  # ended either way
            await forward.handle.wait_closed()
        await self.close(forward, "the SSH connection ended")

    async def _close(self, forward: _Forward, by: str) -> ForwardView:
        watcher = forward.watcher
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
        with contextlib.suppress(Exception):
            await forward.handle.close()
        now = self.clock.now()
        closed = msgspec.structs.replace(forward.shown(), state=ForwardState.CLOSED, closed_at=now, closed_by=by)
        forward.view = closed
        duration = int((now - closed.opened_at).total_seconds() * 1000)
        await self.audit.append(
            forward.author,
            forward.via,
            AuditEvent.FORWARD_CLOSED,
            Outcome.OK,
            host_id=closed.host_id,
            host_name=closed.host_name,
            lease_id=closed.lease_id,
            parameters=_parameters(closed) | {"connections": closed.connections},
            duration_ms=duration,
            detail=f"closed by {by}: {closed.bytes_sent} bytes sent, {closed.bytes_received} received",
        )
        self._forget_old()
        return closed

    def _forget_old(self) -> None:
        closed = [k for k, f in self._forwards.items() if f.view.state is ForwardState.CLOSED]
        for stale in closed[: max(0, len(closed) - KEEP_CLOSED)]:
            del self._forwards[stale]


def _parameters(view: ForwardView) -> dict[str, str | int]:
    return {
        "forward_id": view.id,
        "destination": view.destination,
        "local_port": view.local_port,
        "bytes_sent": view.bytes_sent,
        "bytes_received": view.bytes_received,
    }


@dataclass(frozen=True, slots=True)
class OpenForward:
    """Open a local forward through a host to a destination (``host:port``, as the host sees it): the host must
    allow the destination (403 denied otherwise) and an active lease of the caller must cover the host and
    the destination (403 approval_required otherwise); a forward takes no use of the lease. Allowed, the
    server logs in to the host (its key pinned; on a certificate host with a certificate until the lease's
    end that permits port forwarding and no session), checks that the host opens a channel to the
    destination (502 remote_failed kind forward_refused when it will not, e.g. sshd's PermitOpen) and then
    listens on 127.0.0.1, on a port of the system's choosing, answered as ``local_port``. A refused forward
    listens on no port. It closes when closed, when its lease ends (expiry or revocation) and when its SSH
    connection ends. Every attempt is one audit record (event forward), and the closing another
    (forward_closed, with the bytes counted both ways)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    ssh: SshClient
    box: SecretBox
    audit: AuditTrail
    board: ForwardBoard
    clock: Clock
    ids: IdFactory
    leases: LeaseBook
    certificates: LoginCertificates

    async def __call__(self, actor: Principal, cmd: NewForward, via: Via = Via.REST) -> ForwardView:
        user = operator_of(actor, self.scope)
        forward_id = self.ids.new()
        tried: dict[str, Any] = dict(parameters={"forward_id": forward_id, "destination": cmd.destination})
        try:
            address, port = split_destination(cmd.destination)
        except ValidationFailed as exc:
            raise await self._refuse(actor, via, Outcome.VALIDATION_FAILED, exc, tried) from None
        async with self.uow(read_only=True) as uow:
            host = await uow.ssh_hosts.get(actor.tenant_id, cmd.host_id)
        if host is None:  # audited as denied; answered 404, like another tenant's host
            missing = NotFound("no such host", code="host_not_found")
            raise await self._refuse(actor, via, Outcome.DENIED, missing, tried, detail=f"no host {cmd.host_id!r}")
        tried |= dict(host_id=host.id, host_name=host.name)
        if cmd.destination not in host.forwards:
            why = f"host {host.name} does not allow forwarding to {cmd.destination}"
            refusal = Forbidden(why, code=Outcome.DENIED.value)
            raise await self._refuse(actor, via, Outcome.DENIED, refusal, tried)
        lease = await self.leases.covering_forward(actor, user, host, cmd.destination, cmd.lease_id)
        if lease is None or lease.ends_at is None:
            named = f"lease {cmd.lease_id} does not cover it" if cmd.lease_id else "no active lease covers it"
            why = f"a forward to {cmd.destination} needs an approval lease: {named}"
            refusal = Forbidden(why, code=Outcome.APPROVAL_REQUIRED.value)
            raise await self._refuse(actor, via, Outcome.APPROVAL_REQUIRED, refusal, tried, lease_id=cmd.lease_id)
        tried["lease_id"] = lease.id
        try:
            handle = await self._connect(host, lease, (address, port))
        except RemoteFailed as exc:
            raise await self._refuse(actor, via, Outcome.REMOTE_FAILED, exc, tried, remote_kind=exc.kind) from None
        view = ForwardView(
            id=forward_id,
            host_id=host.id,
            host_name=host.name,
            destination=cmd.destination,
            local_address=LOCALHOST,
            local_port=handle.local_port,
            lease_id=lease.id,
            state=ForwardState.OPEN,
            bytes_sent=0,
            bytes_received=0,
            connections=0,
            opened_at=self.clock.now(),
            closed_at=None,
            closed_by=None,
            audit_id=None,
        )
        tried["parameters"] = _parameters(view)
        try:
            record = await self.audit.append(actor, via, AuditEvent.FORWARD, Outcome.OK, **tried, detail="opened")
        except BaseException:
            await handle.close()
            raise
        forward = _Forward(msgspec.structs.replace(view, audit_id=record.id), actor.tenant_id, actor, via, handle)
        self.board.add(forward)
        self.leases.watch(lease)
        self.leases.guard(lease)
        ended_by = await self.leases.ended(actor.tenant_id, lease.id)
        if ended_by is not None:  # ended while the forward was opening
            return await self.board.close(forward, ended_by)
        return forward.shown()

    async def _refuse(
        self, actor: Principal, via: Via, outcome: Outcome, exc: TesserraError, fields: dict[str, Any], **more: Any
    ) -> TesserraError:
        more.setdefault("detail", exc.message)
        await self.audit.append(actor, via, AuditEvent.FORWARD, outcome, **fields, **more)
        return exc

    async def _connect(self, host: Host, lease: Lease, destination: tuple[str, int]) -> SshForward:
        target = SshTarget(address=host.address, port=host.port, login=host.login, host_key=host.host_key)
        if host.certificate_login:
            login = await self.certificates.for_forward(host, lease)
            return await self.ssh.forward(target, login.private_key, destination, login.certificate)
        try:
            key = self.box.open(host.sealed_key, context=credential_context(host.tenant_id, host.id))
        except SecretUnreadable:
            raise RemoteFailed("the host's login key cannot be opened", kind=RemoteKind.AUTH_FAILED.value) from None
        return await self.ssh.forward(target, key, destination)


@dataclass(frozen=True, slots=True)
class ListForwards:
    """The tenant's forwards on this server, newest first: open ones with their bytes so far, and recently
    closed ones with who or what closed them."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    board: ForwardBoard

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[ForwardView]:
        operator_of(actor, self.scope)
        return page.answer(page.window(self.board.of_tenant(actor.tenant_id)), lambda f: f.shown())


@dataclass(frozen=True, slots=True)
class GetForward:
    """One forward: where it listens, its destination and lease, its state and the bytes counted both ways.
    Another tenant's forward is a 404."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    board: ForwardBoard

    async def __call__(self, actor: Principal, forward_id: str) -> ForwardView:
        operator_of(actor, self.scope)
        forward = self.board.get(actor.tenant_id, forward_id)
        if forward is None:
            raise _forward_not_found()
        return forward.shown()


@dataclass(frozen=True, slots=True)
class CloseForward:
    """Close a forward: it stops listening and every connection through it ends (its client sees end of
    file); audited (forward_closed, with the bytes counted both ways). A closed forward answers as it is."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    board: ForwardBoard

    async def __call__(self, actor: Principal, forward_id: str) -> ForwardView:
        user = operator_of(actor, self.scope)
        forward = self.board.get(actor.tenant_id, forward_id)
        if forward is None:
            raise _forward_not_found()
        return await self.board.close(forward, user)
