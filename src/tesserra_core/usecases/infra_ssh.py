"""Infra SSH (/api/infra/ssh): the host inventory and its admin changes (each audited), the named actions,
and the dry run of an action. Every use case here needs an admin-tier API key acting for a person
(X-User-Id); another tenant's host is a 404 like a missing one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.infra_ssh import (
    ActionCatalog,
    Host,
    HostTier,
    Outcome,
    credential_context,
    decide,
)
from tesserra_core.domain.infra_ssh_audit import AuditEvent, Via
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.ssh import SshClient
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.infra_ssh_audit import AuditTrail, CheckpointAudit, QueryAudit, VerifyAudit
from tesserra_core.usecases.infra_ssh_certificates import GetHostKrl, GetUserCa, LoginCertificates
from tesserra_core.usecases.infra_ssh_forwards import CloseForward, ForwardBoard, GetForward, ListForwards, OpenForward
from tesserra_core.usecases.infra_ssh_guard import action_of, argv_sha256, host_of, operator_of
from tesserra_core.usecases.infra_ssh_leases import (
    DecideLease,
    GetLease,
    LeaseBook,
    ListLeases,
    RequestLease,
    RevokeLease,
)
from tesserra_core.usecases.infra_ssh_runs import CancelRun, GetRun, RunAction, RunBoard
from tesserra_core.usecases.infra_ssh_views import (
    ActionView,
    CheckAction,
    CheckView,
    HostChanges,
    HostView,
    NewHost,
    NewHostKey,
)


def _check_actions(catalog: ActionCatalog, ids: list[str]) -> tuple[str, ...]:
    for action_id in ids:
        action_of(catalog, action_id)
    return tuple(dict.fromkeys(ids))


@dataclass(frozen=True, slots=True)
class ListHosts:
    """The tenant's audited host inventory, by name: address, port, login, pinned host key, the public half of
    the login key (never the key itself), tier (dev or prod), labels, allowed actions and forward destinations,
    the longest lease and how many approvers a lease needs."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[HostView]:
        operator_of(actor, self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.ssh_hosts.list(actor.tenant_id, page), HostView.of)


@dataclass(frozen=True, slots=True)
class GetHost:
    """One host of the inventory."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, host_id: str) -> HostView:
        operator_of(actor, self.scope)
        async with self.uow(read_only=True) as uow:
            return HostView.of(await host_of(uow, actor, host_id))


@dataclass(frozen=True, slots=True)
class AddHost:
    """Add a host: its host key is pinned (any other key is refused before authenticating) and its login's
    private key sealed at rest, never shown again. Audited (host_added)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    ssh: SshClient
    box: SecretBox
    catalog: ActionCatalog
    audit: AuditTrail
    clock: Clock
    ids: IdFactory

    async def __call__(self, actor: Principal, cmd: NewHost, via: Via = Via.REST) -> HostView:
        operator_of(actor, self.scope)
        host_id, now = self.ids.new(), self.clock.now()
        host = Host(
            id=host_id,
            tenant_id=actor.tenant_id,
            name=cmd.name,
            address=cmd.address,
            port=cmd.port,
            login=cmd.login,
            host_key=self.ssh.normalized_host_key(cmd.host_key),
            public_key=self.ssh.public_key_of(cmd.private_key.encode()),
            sealed_key=self.box.seal(cmd.private_key.encode(), context=credential_context(actor.tenant_id, host_id)),
            tier=cmd.tier,
            labels=tuple(dict.fromkeys(cmd.labels)),
            actions=_check_actions(self.catalog, cmd.actions),
            forwards=tuple(dict.fromkeys(cmd.forwards)),
            max_lease_seconds=cmd.max_lease_seconds,
            approvers_required=cmd.approvers_required or (2 if cmd.tier is HostTier.PROD else 1),
            certificate_login=cmd.certificate_login,
            created_at=now,
            updated_at=now,
        )
        async with self.uow() as uow:
            await uow.ssh_hosts.add(host)
            await self.audit.write(
                uow,
                actor,
                via,
                AuditEvent.HOST_ADDED,
                Outcome.OK,
                host_id=host.id,
                host_name=host.name,
                detail=f"{host.login}@{host.address}:{host.port} {host.tier} pinned {host.host_key}",
            )
            await uow.commit()
        return HostView.of(host)


@dataclass(frozen=True, slots=True)
class ChangeHost:
    """Change a host's name, address, port, login, login key, tier, labels, allowed actions, forward
    destinations, longest lease or approvers. Audited (host_changed, naming the fields). The host key is
    re-pinned on its own."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    ssh: SshClient
    box: SecretBox
    catalog: ActionCatalog
    audit: AuditTrail
    clock: Clock

    async def __call__(self, actor: Principal, host_id: str, changes: HostChanges, via: Via = Via.REST) -> HostView:
        operator_of(actor, self.scope)
        given = {k: v for k, v in msgspec.structs.asdict(changes).items() if v is not None}
        if not given:
            raise ValidationFailed("name at least one field to change", code="validation_failed")
        if "actions" in given:
            given["actions"] = _check_actions(self.catalog, given["actions"])
        for name in ("labels", "forwards"):
            if name in given:
                given[name] = tuple(dict.fromkeys(given[name]))
        private_key = given.pop("private_key", None)
        if private_key is not None:
            given["public_key"] = self.ssh.public_key_of(private_key.encode())
            context = credential_context(actor.tenant_id, host_id)
            given["sealed_key"] = self.box.seal(private_key.encode(), context=context)
        async with self.uow() as uow:
            current = await host_of(uow, actor, host_id)
            updated = msgspec.structs.replace(current, **given, updated_at=self.clock.now())
            await uow.ssh_hosts.update(updated)
            fields = sorted(k for k in changes.__struct_fields__ if getattr(changes, k) is not None)
            await self.audit.write(
                uow,
                actor,
                via,
                AuditEvent.HOST_CHANGED,
                Outcome.OK,
                host_id=host_id,
                host_name=updated.name,
                detail="changed " + ", ".join(fields),
            )
            await uow.commit()
        return HostView.of(updated)


@dataclass(frozen=True, slots=True)
class RepinHostKey:
    """Pin another host key for a host (after its key really changed). Audited (host_key_repinned, with the
    old and new keys)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    ssh: SshClient
    audit: AuditTrail
    clock: Clock

    async def __call__(self, actor: Principal, host_id: str, cmd: NewHostKey, via: Via = Via.REST) -> HostView:
        operator_of(actor, self.scope)
        key = self.ssh.normalized_host_key(cmd.host_key)
        async with self.uow() as uow:
            current = await host_of(uow, actor, host_id)
            updated = msgspec.structs.replace(current, host_key=key, updated_at=self.clock.now())
            await uow.ssh_hosts.update(updated)
            await self.audit.write(
                uow,
                actor,
                via,
                AuditEvent.HOST_KEY_REPINNED,
                Outcome.OK,
                host_id=host_id,
                host_name=current.name,
                detail=f"was {current.host_key}, now {key}",
            )
            await uow.commit()
        return HostView.of(updated)


@dataclass(frozen=True, slots=True)
class RemoveHost:
    """Remove a host from the inventory (its sealed key with it). Audited (host_removed)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    audit: AuditTrail

    async def __call__(self, actor: Principal, host_id: str, via: Via = Via.REST) -> HostView:
        operator_of(actor, self.scope)
        async with self.uow() as uow:
            current = await host_of(uow, actor, host_id)
            await uow.ssh_hosts.remove(actor.tenant_id, host_id)
            await self.audit.write(
                uow, actor, via, AuditEvent.HOST_REMOVED, Outcome.OK, host_id=host_id, host_name=current.name
            )
            await uow.commit()
        return HostView.of(current)


@dataclass(frozen=True, slots=True)
class ListActions:
    """The named actions: typed templates (each parameter an enum, an integer range or a bounded pattern) run
    as an argument vector, never a shell string; each with its risk (read, mutate, privileged), time limit
    (enforced on the host), output cap and whether it needs an approval lease."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    catalog: ActionCatalog

    async def __call__(self, actor: Principal) -> list[ActionView]:
        operator_of(actor, self.scope)
        return [ActionView.in_catalog(a, self.catalog.version) for a in self.catalog.actions]


@dataclass(frozen=True, slots=True)
class CheckActionRun:
    """Dry run of an action on a host: the policy's decision (ok, denied, approval_required) and the argv that
    would run, or a validation failure (400) for parameters that do not fit. Nothing connects to the host and
    nothing is audited."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory
    catalog: ActionCatalog

    async def __call__(self, actor: Principal, action_id: str, cmd: CheckAction) -> CheckView:
        operator_of(actor, self.scope)
        action = action_of(self.catalog, action_id)
        async with self.uow(read_only=True) as uow:
            host = await host_of(uow, actor, cmd.host_id)
        argv, _ = action.render(dict[str, object](cmd.parameters))
        decision = decide(host, action)
        return CheckView(
            action=action.id,
            host_id=host.id,
            decision=decision.outcome,
            reason=decision.reason,
            argv=argv,
            argv_sha256=argv_sha256(argv),
        )


@dataclass(frozen=True, slots=True)
class InfraSsh:
    """/api/infra/ssh."""

    list_hosts: ListHosts
    get_host: GetHost
    add_host: AddHost
    change_host: ChangeHost
    repin_host_key: RepinHostKey
    remove_host: RemoveHost
    list_actions: ListActions
    check_action: CheckActionRun
    run_action: RunAction
    get_run: GetRun
    cancel_run: CancelRun
    query_audit: QueryAudit
    verify_audit: VerifyAudit
    checkpoint_audit: CheckpointAudit
    request_lease: RequestLease
    get_lease: GetLease
    list_leases: ListLeases
    approve_lease: DecideLease
    deny_lease: DecideLease
    revoke_lease: RevokeLease
    get_user_ca: GetUserCa
    get_host_krl: GetHostKrl
    open_forward: OpenForward
    list_forwards: ListForwards
    get_forward: GetForward
    close_forward: CloseForward


def infra_ssh(p: Ports) -> InfraSsh:
    trail = AuditTrail(p.uow, p.clock, p.ids, p.audit_checkpoints)
    board = RunBoard()
    catalog = p.ssh_actions
    certificates = LoginCertificates(p.ssh_certificates, p.ssh_user_ca, p.ssh_krl, p.clock)
    forwards = ForwardBoard(trail, p.clock)
    book = LeaseBook(p.uow, trail, board, p.clock, certificates, forwards)
    return InfraSsh(
        list_hosts=ListHosts(p.uow),
        get_host=GetHost(p.uow),
        add_host=AddHost(p.uow, p.ssh, p.secret_box, catalog, trail, p.clock, p.ids),
        change_host=ChangeHost(p.uow, p.ssh, p.secret_box, catalog, trail, p.clock),
        repin_host_key=RepinHostKey(p.uow, p.ssh, trail, p.clock),
        remove_host=RemoveHost(p.uow, trail),
        list_actions=ListActions(catalog),
        check_action=CheckActionRun(p.uow, catalog),
        run_action=RunAction(p.uow, p.ssh, p.secret_box, catalog, trail, board, p.clock, p.ids, book, certificates),
        get_run=GetRun(p.uow, board, catalog),
        cancel_run=CancelRun(board),
        query_audit=QueryAudit(p.uow),
        verify_audit=VerifyAudit(p.uow, p.audit_checkpoints),
        checkpoint_audit=CheckpointAudit(p.uow, p.audit_checkpoints, p.clock),
        request_lease=RequestLease(book, catalog, p.ids),
        get_lease=GetLease(book),
        list_leases=ListLeases(book),
        approve_lease=DecideLease(book, approve=True),
        deny_lease=DecideLease(book, approve=False),
        revoke_lease=RevokeLease(book),
        get_user_ca=GetUserCa(certificates),
        get_host_krl=GetHostKrl(p.uow, certificates),
        open_forward=OpenForward(p.uow, p.ssh, p.secret_box, trail, forwards, p.clock, p.ids, book, certificates),
        list_forwards=ListForwards(forwards),
        get_forward=GetForward(forwards),
        close_forward=CloseForward(forwards),
    )
