"""Sandboxes of a tenant: list, get, create (isolated, within the plan), update (name, clocks),
delete (from every state, idempotent) and the lifecycle actions. Another tenant's sandbox is a 404
like a missing one. The runtime work is the lifecycle runner's; the clocks are the reaper's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.plans import Entitlement
from tesserra_core.domain.sandboxes import (
    MAX_NAME,
    Cause,
    Sandbox,
    SandboxAction,
    SandboxEvent,
    SandboxState,
    SandboxTemplate,
)
from tesserra_core.domain.text import check_name
from tesserra_core.errors import Conflict, PaymentRequired, Unprocessable, ValidationFailed, found
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle
from tesserra_core.usecases.sandbox_reads import SandboxReads
from tesserra_core.usecases.sandbox_views import DEFAULT_TTL, MAX_PORT, NewSandbox, SandboxChanges, SandboxView

ATTEMPTS = 5


async def sandbox_of(uow: UnitOfWork, actor: Principal, sandbox_id: str) -> Sandbox:
    return found(await uow.sandboxes.get(actor.tenant_id, sandbox_id), "no such sandbox", code="sandbox_not_found")


def _ttl(requested: int | None, entitlement: Entitlement) -> int:
    """The ttl asked for (the default when none), within the plan's maximum (402 past it)."""
    limit = entitlement.limits.sandbox_ttl_seconds
    if requested is None:
        return DEFAULT_TTL if limit is None else min(DEFAULT_TTL, limit)
    if limit is not None and requested > limit:
        code = "quota_exceeded" if entitlement.subscribed else "subscription_required"
        raise PaymentRequired(
            f"ttl_seconds {requested} passes the maximum of plan {entitlement.plan} ({limit})", code=code
        )
    return requested


@dataclass(frozen=True, slots=True)
class ListSandboxes:
    """The tenant's sandboxes that are not deleted (only those in ``state`` if given), newest first, with
    their state and clocks."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory

    async def __call__(
        self, actor: Principal, page: PageRequest, state: SandboxState | None = None
    ) -> Page[SandboxView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.sandboxes.list(actor.tenant_id, page, state), SandboxView.of)


@dataclass(frozen=True, slots=True)
class GetSandbox:
    """One sandbox: its state (and why), the actions it allows, its lifecycle generation, its clocks
    (expires_at, idle_expires_at, last_activity_at) and its recent events, each with its cause (request,
    ttl, idle, oom, error, admin, reconcile). A deleted one still answers, in state deleted. Another
    tenant's sandbox answers 404 like a missing one."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, sandbox_id: str) -> SandboxView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return SandboxView.of(await sandbox_of(uow, actor, sandbox_id))


@dataclass(frozen=True, slots=True)
class CreateSandbox:
    """Create and run a sandbox from a template (an image and/or a command, declared ports, env, limits)
    with its clocks: ttl_seconds (a hard cap counted from creation, then on_ttl: stop or delete; one hour
    by default, at most the plan's maximum) and idle_timeout_seconds (then on_idle: pause, stop or
    delete). Answers once it runs (running) or failed (error, with state_reason). The plan limits how
    many sandboxes a tenant holds (402).

    Sandboxes never run unisolated: on a process runtime that cannot sandbox workloads (bubblewrap and
    pasta), or where the operator opted out of isolation, it answers 422 isolation_unavailable naming
    the fix."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    entitlements: Entitlements
    lifecycle: SandboxLifecycle
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewSandbox) -> SandboxView:
        actor.require(self.scope)
        name = check_name("name", cmd.name, MAX_NAME)
        if not cmd.command and not cmd.image:
            raise Unprocessable("a sandbox needs an image or a command", code="template_incomplete")
        if any(not 1 <= port <= MAX_PORT for port in cmd.ports):
            raise Unprocessable(f"ports: each port must be 1-{MAX_PORT}", code="invalid_port")
        if len(set(cmd.ports)) != len(cmd.ports):
            raise Unprocessable("ports: each port may be declared once", code="duplicate_ports")
        entitlement = await self.entitlements.of(actor.tenant_id)
        ttl = _ttl(cmd.ttl_seconds, entitlement)
        now = self.clock.now()
        sandbox = Sandbox(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            owner_id=actor.user_id,
            name=name,
            template=SandboxTemplate(
                image=cmd.image,
                command=tuple(cmd.command),
                ports=tuple(cmd.ports),
                env={var.name: var.value for var in cmd.env},
                memory_mb=cmd.memory_mb,
                cpus=cmd.cpus,
                network=cmd.network,
            ),
            state=SandboxState.CREATING,
            state_reason="",
            generation=1,
            workload_id=None,
            ttl_seconds=ttl,
            on_ttl=cmd.on_ttl,
            idle_timeout_seconds=cmd.idle_timeout_seconds,
            on_idle=cmd.on_idle,
            expires_at=now + timedelta(seconds=ttl),
            idle_expires_at=None,
            last_activity_at=now,
            events=(SandboxEvent(at=now, state=SandboxState.CREATING, previous=None, cause=Cause.REQUEST),),
            created_at=now,
            updated_at=now,
        )
        self.lifecycle.admit(sandbox)
        reserved = None
        try:
            async with self.uow() as uow:
                await uow.tenants.lock(actor.tenant_id)  # the count below holds until commit
                entitlement.allow("sandboxes", await uow.sandboxes.count(actor.tenant_id))
                # A warm workload resumes while the row is written (the claim then only renames it).
                reserved = self.lifecycle.reserve(sandbox)
                await uow.sandboxes.add(sandbox)
                await uow.commit()
        except BaseException:
            self.lifecycle.release(reserved)
            raise
        return SandboxView.of(await self.lifecycle.launch(sandbox, reserved))


@dataclass(frozen=True, slots=True)
class UpdateSandbox:
    """Rename a sandbox, or set its clocks: a new ttl_seconds counts from now (within the plan's
    maximum, 402 past it); no_idle_timeout removes the idle clock. Counts as activity. A sandbox being
    deleted or deleted answers 409."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    entitlements: Entitlements
    clock: Clock
    reads: SandboxReads

    async def __call__(self, actor: Principal, sandbox_id: str, changes: SandboxChanges) -> SandboxView:
        actor.require(self.scope)
        name = check_name("name", changes.name, MAX_NAME) if changes.name is not None else None
        ttl = None
        if changes.ttl_seconds is not None:
            ttl = _ttl(changes.ttl_seconds, await self.entitlements.of(actor.tenant_id))
        for _ in range(ATTEMPTS):
            async with self.uow() as uow:
                current = await sandbox_of(uow, actor, sandbox_id)
                if current.state in (SandboxState.DELETING, SandboxState.DELETED):
                    raise Conflict(f"the sandbox is {current.state}", code=f"sandbox_{current.state}")
                now = self.clock.now()
                idle = None if changes.no_idle_timeout else changes.idle_timeout_seconds or current.idle_timeout_seconds
                updated = msgspec.structs.replace(
                    current,
                    name=name or current.name,
                    ttl_seconds=ttl or current.ttl_seconds,
                    expires_at=now + timedelta(seconds=ttl) if ttl else current.expires_at,
                    on_ttl=changes.on_ttl or current.on_ttl,
                    idle_timeout_seconds=idle,
                    on_idle=changes.on_idle or current.on_idle,
                ).touched(now)
                if await uow.sandboxes.update(updated, if_updated_at=current.updated_at):
                    await uow.commit()
                    self.reads.changed(current.id)
                    return SandboxView.of(updated)
        raise Conflict("the sandbox kept changing during the update; retry", code="sandbox_busy")


@dataclass(frozen=True, slots=True)
class ActOnSandbox:
    """Act on a sandbox: start, stop, pause, resume, restart, keepalive (resets the idle clock) or delete
    (as DELETE). An action its state does not allow answers 409 with the code sandbox_<state> (e.g.
    sandbox_paused); repeating an action that is done is a no-op. A sandbox whose ttl has passed
    answers 409 sandbox_expired to start and restart until a new ttl_seconds is set."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    lifecycle: SandboxLifecycle

    async def __call__(self, actor: Principal, sandbox_id: str, action: SandboxAction | str) -> SandboxView:
        actor.require(self.scope)
        try:
            chosen = SandboxAction(action)
        except ValueError:
            known = ", ".join(a.value for a in SandboxAction)
            raise ValidationFailed(f"action must be one of {known}", code="validation_failed") from None
        return SandboxView.of(await self.lifecycle.act(actor.tenant_id, sandbox_id, chosen))


@dataclass(frozen=True, slots=True)
class DeleteSandbox:
    """Delete a sandbox: its workload is removed and it is marked deleted, from every state, stuck ones
    included. Deleting again answers the same."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    lifecycle: SandboxLifecycle

    async def __call__(self, actor: Principal, sandbox_id: str) -> SandboxView:
        actor.require(self.scope)
        return SandboxView.of(await self.lifecycle.act(actor.tenant_id, sandbox_id, SandboxAction.DELETE))


@dataclass(frozen=True, slots=True)
class Sandboxes:
    """/api/sandboxes."""

    list: ListSandboxes
    get: GetSandbox
    create: CreateSandbox
    update: UpdateSandbox
    delete: DeleteSandbox
    action: ActOnSandbox


def sandboxes(p: Ports, *, lifecycle: SandboxLifecycle) -> Sandboxes:
    return Sandboxes(
        list=ListSandboxes(p.uow),
        get=GetSandbox(p.uow),
        create=CreateSandbox(p.uow, p.entitlements, lifecycle, p.ids, p.clock),
        update=UpdateSandbox(p.uow, p.entitlements, p.clock, lifecycle.reads),
        delete=DeleteSandbox(lifecycle),
        action=ActOnSandbox(lifecycle),
    )
