"""Infra SSH approval leases (/api/infra/ssh/admin-session): request, inspect, approve or deny (over REST
only, by another admin key and another user; as many as the strictest host asks), revoke. Every lease event
is one audit record, refusals included. A lease that ends (revoked, or past its end) ends the runs and the
forwards going under it at once: the worker that revokes ends its own, every other worker with work under
the lease reads its state every ``LEASE_POLL_SECONDS`` (one guard per lease) and ends its own, and a timer
ends them at the lease's end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.infra_ssh import Action, ActionCatalog, Host, Outcome
from tesserra_core.domain.infra_ssh_audit import AuditEvent, Via
from tesserra_core.domain.infra_ssh_leases import Approval, Lease, LeaseFilter, LeaseState
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Conflict, Forbidden, NotFound, TesserraError, ValidationFailed
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.infra_ssh_audit import AuditTrail, ServerAuthor
from tesserra_core.usecases.infra_ssh_certificates import LoginCertificates
from tesserra_core.usecases.infra_ssh_guard import action_of, host_of, operator_of
from tesserra_core.usecases.infra_ssh_lease_views import LeaseQuery, LeaseView, NewLease
from tesserra_core.usecases.infra_ssh_runs import RunBoard

if TYPE_CHECKING:
    from tesserra_core.usecases.infra_ssh_forwards import ForwardBoard


def _lease_not_found() -> NotFound:
    return NotFound("no such lease", code="lease_not_found")


@dataclass(frozen=True, slots=True)
class LeaseBook:
    """What every lease use case shares: reading a lease with its expiry settled, ending the runs of a lease
    that ended, and taking one use of a lease for a run."""

    uow: UnitOfWorkFactory
    audit: AuditTrail
    board: RunBoard
    clock: Clock
    certificates: LoginCertificates
    forwards: ForwardBoard | None = None
    """This worker's forwards: those of a lease that ends are closed."""

    async def end_work(self, tenant_id: str, lease_id: str, by: str) -> None:
        """End what this worker does under a lease that ended: close its forwards, cancel its runs."""
        if self.forwards is not None:
            await self.forwards.close_lease(tenant_id, lease_id, by)
        await self.board.cancel_lease(tenant_id, lease_id, by)

    async def locked(self, uow: UnitOfWork, tenant_id: str, lease_id: str) -> Lease:
        """The tenant's lease, settled, under the tenant's lock (404 if it has none of that id)."""
        await uow.tenants.lock(tenant_id)
        lease = await uow.ssh_leases.get(tenant_id, lease_id)
        if lease is None:
            raise _lease_not_found()
        return await self.settled(uow, lease)

    async def settled(self, uow: UnitOfWork, lease: Lease) -> Lease:
        """The lease, written expired (with its audit record, once) if its end has passed. The caller holds
        the tenant lock (``uow.tenants.lock``) and commits."""
        now = self.clock.now()
        if lease.state is LeaseState.ACTIVE and lease.state_at(now) is LeaseState.EXPIRED:
            lease = lease.ended(LeaseState.EXPIRED, "server", now)
            await uow.ssh_leases.update(lease)
            await self.audit.write(
                uow,
                ServerAuthor(lease.tenant_id),
                Via.REST,
                AuditEvent.LEASE_EXPIRED,
                Outcome.OK,
                lease_id=lease.id,
                detail=f"lease of {lease.user_id} ended at {lease.ends_at}",
            )
        return lease

    async def expire(self, tenant_id: str, lease_id: str) -> None:
        """At a lease's end: end the forwards and runs going under it and write it expired."""
        await self.end_work(tenant_id, lease_id, "lease expiry")
        async with self.uow() as uow:
            await uow.tenants.lock(tenant_id)
            lease = await uow.ssh_leases.get(tenant_id, lease_id)
            if lease is not None:
                await self.settled(uow, lease)
            await uow.commit()

    def watch(self, lease: Lease) -> None:
        """Set this worker's timer for the end of an active lease."""
        if lease.state is LeaseState.ACTIVE and lease.ends_at is not None:
            seconds = (lease.ends_at - self.clock.now()).total_seconds()
            self.board.later(seconds, lambda: self.expire(lease.tenant_id, lease.id), name=f"ssh-lease-{lease.id}")

    async def ended(self, tenant_id: str, lease_id: str) -> str | None:
        """Who or what ended the lease, as its database says now; None while it is active."""
        async with self.uow(read_only=True) as uow:
            lease = await uow.ssh_leases.get(tenant_id, lease_id)
        if lease is None:
            return "the lease's removal"
        if lease.state is LeaseState.REVOKED:
            return f"revocation by {lease.ended_by}"
        if lease.state_at(self.clock.now()) is not LeaseState.ACTIVE:
            return "lease expiry"
        return None

    def guard(self, lease: Lease) -> None:
        """The one guard of a lease on this worker: while runs go or forwards stay open under it here, read
        its state in the database; ended on any worker (revoked, removed or past its end), the forwards here
        close and the runs here end, together, within ``LEASE_POLL_SECONDS`` and their cancel."""
        tenant_id, lease_id = lease.tenant_id, lease.id

        def busy() -> bool:
            forwards = self.forwards is not None and self.forwards.open_under(tenant_id, lease_id)
            return forwards or self.board.runs_under(tenant_id, lease_id)

        self.board.guard(
            lease_id, busy, lambda: self.ended(tenant_id, lease_id), lambda by: self.end_work(tenant_id, lease_id, by)
        )

    async def take(self, actor: Principal, user: str, host: Host, action: Action, lease_id: str | None) -> Lease | None:
        """One use of the caller's active lease covering ``action`` on ``host`` (the one named, or the oldest
        that fits), counted under the tenant lock so concurrent runs never pass ``max_uses``; None if none
        fits. A named lease of someone else, or one that does not fit, is None too."""
        now = self.clock.now()
        return await self._first_fitting(
            actor, user, lease_id, lambda lease: lease.covers(host.id, action.id, now), True
        )

    async def covering_forward(
        self, actor: Principal, user: str, host: Host, destination: str, lease_id: str | None
    ) -> Lease | None:
        """The caller's active lease covering a forward to ``destination`` through ``host``, chosen as ``take``
        chooses; a forward uses none of its uses."""
        now = self.clock.now()

        def fits(lease: Lease) -> bool:
            return lease.covers_forward(host.id, destination, now)

        return await self._first_fitting(actor, user, lease_id, fits, False)

    async def _first_fitting(
        self, actor: Principal, user: str, lease_id: str | None, fits: Callable[[Lease], bool], use: bool
    ) -> Lease | None:
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)
            if lease_id is not None:
                named = await uow.ssh_leases.get(actor.tenant_id, lease_id)
                candidates = [] if named is None or named.user_id != user else [named]
            else:
                candidates = await uow.ssh_leases.of_user(actor.tenant_id, user, LeaseState.ACTIVE)
            chosen = None
            for lease in candidates:
                lease = await self.settled(uow, lease)
                if fits(lease):
                    chosen = lease.used() if use else lease
                    if use:
                        await uow.ssh_leases.update(chosen)
                    break
            await uow.commit()
        return chosen


def _scope_detail(lease: Lease) -> str:
    forwards = f" forwards {','.join(lease.forwards)}" if lease.forwards else ""
    return (
        f"hosts {','.join(lease.host_ids)} actions {','.join(lease.actions)}{forwards} for "
        f"{lease.duration_seconds}s, {lease.max_uses} use(s), {lease.approvers_required} approver(s): {lease.reason}"
    )


@dataclass(frozen=True, slots=True)
class RequestLease:
    """Ask for an approval lease: hosts, actions, forward destinations, a duration (counted from approval, at
    most the shortest longest-lease of the hosts), a number of uses and a reason. Every host must exist (404)
    and allow every action (403 denied otherwise: a lease never widens what a host allows) and every forward
    must be one a host of the scope allows (403 denied). The lease needs as many approvers as the strictest
    host (2 on prod by default). Over REST or MCP; audited (lease_requested), refusals too."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    book: LeaseBook
    catalog: ActionCatalog
    ids: IdFactory

    async def __call__(self, actor: Principal, cmd: NewLease, via: Via = Via.REST) -> LeaseView:
        user = operator_of(actor, self.scope)
        host_ids, actions = tuple(dict.fromkeys(cmd.host_ids)), tuple(dict.fromkeys(cmd.actions))
        forwards = tuple(dict.fromkeys(cmd.forwards))
        lease = Lease(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            user_id=user,
            key_id=actor.credential_id,
            host_ids=host_ids,
            actions=actions,
            forwards=forwards,
            duration_seconds=cmd.duration_seconds,
            max_uses=cmd.max_uses,
            uses=0,
            reason=cmd.reason,
            approvers_required=1,
            approvals=(),
            state=LeaseState.PENDING,
            created_at=self.book.clock.now(),
            starts_at=None,
            ends_at=None,
            ended_at=None,
            ended_by=None,
        )
        async with self.book.uow() as uow:
            try:
                hosts = [await host_of(uow, actor, host_id) for host_id in host_ids]
                lease = self._fitted(lease, hosts)
            except TesserraError as exc:
                outcome = Outcome.VALIDATION_FAILED if isinstance(exc, ValidationFailed) else Outcome.DENIED
                await self.book.audit.write(
                    uow, actor, via, AuditEvent.LEASE_REQUESTED, outcome, lease_id=lease.id, detail=exc.message
                )
                await uow.commit()
                raise
            await uow.ssh_leases.add(lease)
            await self.book.audit.write(
                uow, actor, via, AuditEvent.LEASE_REQUESTED, Outcome.OK, lease_id=lease.id, detail=_scope_detail(lease)
            )
            await uow.commit()
        return LeaseView.at(lease, self.book.clock.now())

    def _fitted(self, lease: Lease, hosts: list[Host]) -> Lease:
        for action_id in lease.actions:
            action_of(self.catalog, action_id)
        for host in hosts:
            refused = [a for a in lease.actions if a not in host.actions]
            if refused:
                raise Forbidden(f"host {host.name} does not allow {', '.join(refused)}", code=Outcome.DENIED.value)
        allowed = {f for host in hosts for f in host.forwards}
        refused_forwards = [f for f in lease.forwards if f not in allowed]
        if refused_forwards:
            message = f"no host of the lease allows forwarding to {', '.join(refused_forwards)}"
            raise Forbidden(message, code=Outcome.DENIED.value)
        longest = min(host.max_lease_seconds for host in hosts)
        if lease.duration_seconds > longest:
            message = f"duration_seconds must be at most {longest} (the shortest longest-lease of the hosts)"
            raise ValidationFailed(message, code=Outcome.VALIDATION_FAILED.value)
        return msgspec.structs.replace(lease, approvers_required=max(h.approvers_required for h in hosts))


@dataclass(frozen=True, slots=True)
class GetLease:
    """One lease of the tenant: its scope, approvals, state (pending, active, denied, revoked, expired), uses
    and times."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    book: LeaseBook

    async def __call__(self, actor: Principal, lease_id: str) -> LeaseView:
        operator_of(actor, self.scope)
        async with self.book.uow() as uow:
            lease = await self.book.locked(uow, actor.tenant_id, lease_id)
            await uow.commit()
        return LeaseView.at(lease, self.book.clock.now())


@dataclass(frozen=True, slots=True)
class ListLeases:
    """The tenant's leases, newest first: all, or only the caller's (``mine``); in any state, or in one as of
    now (an active lease past its end is expired)."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    book: LeaseBook

    async def __call__(self, actor: Principal, page: PageRequest, query: LeaseQuery = LeaseQuery()) -> Page[LeaseView]:
        user = operator_of(actor, self.scope)
        now = self.book.clock.now()
        where = LeaseFilter(user_id=user if query.mine else None, state=query.state, at=now)
        async with self.book.uow(read_only=True) as uow:
            found = await uow.ssh_leases.list(actor.tenant_id, page, where)
        return page.answer(found, lambda x: LeaseView.at(x, now))


@dataclass(frozen=True, slots=True)
class DecideLease:
    """Approve or deny a pending lease, by a person (over REST or in the console, never over MCP: no agent
    approves): by a credential other than the one that asked, acting for another person, and not one who
    already approved (403 denied otherwise); a lease that is no longer
    pending (approved, denied, revoked, expired) is 409 lease_not_pending. Once as many people as the lease
    needs approved it, it is active and its clock starts. Audited (lease_approved, lease_denied), refusals
    too."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    book: LeaseBook
    approve: bool

    async def __call__(self, actor: Principal, lease_id: str, via: Via = Via.REST) -> LeaseView:
        user = operator_of(actor, self.scope)
        event = AuditEvent.LEASE_APPROVED if self.approve else AuditEvent.LEASE_DENIED
        now = self.book.clock.now()
        async with self.book.uow() as uow:
            lease = await self.book.locked(uow, actor.tenant_id, lease_id)
            refusal = self._refusal(lease, user, actor.credential_id, via)
            if refusal is not None:
                outcome = Outcome.DENIED
                await self.book.audit.write(uow, actor, via, event, outcome, lease_id=lease.id, detail=refusal.message)
                await uow.commit()
                raise refusal
            approval = Approval(user_id=user, key_id=actor.credential_id, at=now)
            decided = lease.approved(approval) if self.approve else lease.ended(LeaseState.DENIED, user, now)
            await uow.ssh_leases.update(decided)
            count = f"{len(decided.approvals)} of {decided.approvers_required}"
            detail = f"approval {count}, now {decided.state}" if self.approve else "denied"
            await self.book.audit.write(uow, actor, via, event, Outcome.OK, lease_id=lease.id, detail=detail)
            await uow.commit()
        self.book.watch(decided)
        return LeaseView.at(decided, self.book.clock.now())

    def _refusal(self, lease: Lease, user: str, key_id: str, via: Via) -> TesserraError | None:
        if via is Via.MCP:
            return Forbidden("leases are approved over REST or in the console only", code=Outcome.DENIED.value)
        why = lease.refusal_to_approve(user, key_id, self.book.clock.now())
        if why is None:
            return None
        if lease.state_at(self.book.clock.now()) is not LeaseState.PENDING:
            return Conflict(why, code="lease_not_pending")
        return Forbidden(why, code=Outcome.DENIED.value)


@dataclass(frozen=True, slots=True)
class RevokeLease:
    """End a pending or active lease at once (any operator of the tenant may; the one who asked gives it up
    this way): the runs going under it are ended on their hosts before this answers. A lease already ended is
    409 lease_not_active. Over REST or MCP; audited (lease_revoked)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    book: LeaseBook

    async def __call__(self, actor: Principal, lease_id: str, via: Via = Via.REST) -> LeaseView:
        user = operator_of(actor, self.scope)
        now = self.book.clock.now()
        async with self.book.uow() as uow:
            lease = await self.book.locked(uow, actor.tenant_id, lease_id)
            if lease.state not in (LeaseState.PENDING, LeaseState.ACTIVE):
                refusal = Conflict(f"the lease is {lease.state}", code="lease_not_active")
                event = AuditEvent.LEASE_REVOKED
                await self.book.audit.write(
                    uow, actor, via, event, Outcome.DENIED, lease_id=lease.id, detail=refusal.message
                )
                await uow.commit()
                raise refusal
            revoked = lease.ended(LeaseState.REVOKED, user, now)
            await uow.ssh_leases.update(revoked)
            await self.book.audit.write(
                uow, actor, via, AuditEvent.LEASE_REVOKED, Outcome.OK, lease_id=lease.id, detail=f"was {lease.state}"
            )
            await uow.commit()
        await self.book.end_work(actor.tenant_id, lease_id, f"revocation by {user}")
        if lease.state is LeaseState.ACTIVE:
            await self.book.certificates.publish_revocations(self.book.uow, actor.tenant_id, lease.host_ids)
        return LeaseView.at(revoked, self.book.clock.now())
