"""The Infra SSH audit: appending to a tenant's chain, querying it, and verifying it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import (
    GENESIS,
    AuditEvent,
    AuditFilter,
    AuditRecord,
    ChainHead,
    Checkpoint,
    Verification,
    Via,
    sealed,
    verify_chain,
)
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.audit_checkpoints import AuditCheckpoints
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.infra_ssh_guard import operator_of

log = logging.getLogger("tesserra.audit")

ATTEMPTS = 5
CHECKPOINT_EVERY = 1000
"""A signed checkpoint of a tenant's chain is kept each time its ``seq`` passes a multiple of this."""


class Author(Protocol):
    """Who a record is by: a ``Principal``, or the server itself (``ServerAuthor``, for a lease's expiry)."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def credential_id(self) -> str: ...

    @property
    def acting_user_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ServerAuthor:
    tenant_id: str
    credential_id: str = "server"
    acting_user_id: str | None = "server"


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """Appends one record to the actor's tenant chain, in its own transaction (``append``) or in the caller's
    (``write``). The tenant is held while the record is written (PostgreSQL: its row locked; SQLite: the
    database's write lock; memory: its lock), so concurrent appends queue and ``seq`` has no gaps.

    Where the chain ends is remembered per tenant (``heads``), so an append is one statement: the store
    writes the record only if the chain still ends where this process last saw it end. When it does not (a
    record appended by another worker, or a unit of work that wrote one rolled back), the head is read again
    and the record rebuilt on it.

    Each time a tenant's chain passes a multiple of ``every`` records, a committed append keeps a signed
    checkpoint of it outside the database (``checkpoints``)."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdFactory
    checkpoints: AuditCheckpoints | None = None
    every: int = CHECKPOINT_EVERY
    heads: dict[str, ChainHead] = field(default_factory=dict)
    checkpointed: dict[str, int] = field(default_factory=dict)

    async def append(self, actor: Author, via: Via, event: AuditEvent, outcome: Outcome, **fields: Any) -> AuditRecord:
        for _ in range(ATTEMPTS):
            try:
                return await self._append(actor, via, event, outcome, fields)
            except Conflict:
                continue  # another writer took this seq (a store without a tenant lock): read again
        raise Conflict("the audit is too busy; retry", code="audit_busy")

    async def _append(
        self, actor: Author, via: Via, event: AuditEvent, outcome: Outcome, fields: dict[str, Any]
    ) -> AuditRecord:
        async with self.uow() as uow:
            record = await self.write(uow, actor, via, event, outcome, **fields)
            await uow.commit()
        try:
            await self._checkpoint_if_due(record)
        except Exception:  # the record is committed: a checkpoint that could not be kept waits for the next one
            log.exception("audit checkpoint of tenant %s at seq %s not kept", record.tenant_id, record.seq)
        return record

    async def _checkpoint_if_due(self, record: AuditRecord) -> None:
        if self.checkpoints is None:
            return
        tenant_id = record.tenant_id
        last = self.checkpointed.get(tenant_id)
        if last is None:
            last = await self.checkpoints.last_seq(tenant_id)
        if record.seq // self.every > last // self.every:
            await self.checkpoints.keep(
                Checkpoint(tenant_id=tenant_id, seq=record.seq, head_hash=record.hash, at=record.at)
            )
            last = record.seq
        self.checkpointed[tenant_id] = max(last, self.checkpointed.get(tenant_id, 0))

    async def write(
        self, uow: UnitOfWork, actor: Author, via: Via, event: AuditEvent, outcome: Outcome, **fields: Any
    ) -> AuditRecord:
        """Append in the caller's unit of work (which commits it with the change it records)."""
        tenant_id = actor.tenant_id
        await uow.tenants.lock(tenant_id)
        head = self.heads.get(tenant_id)
        if head is None:
            head = await uow.ssh_audit.head(tenant_id)
        record = self._record(actor, via, event, outcome, fields, head)
        try:
            await uow.ssh_audit.append(record)
        except Conflict:
            self.heads.pop(tenant_id, None)
            record = self._record(actor, via, event, outcome, fields, await uow.ssh_audit.head(tenant_id))
            await uow.ssh_audit.append(record)
        self.heads[tenant_id] = ChainHead(record.seq, record.hash)
        return record

    def _record(
        self,
        actor: Author,
        via: Via,
        event: AuditEvent,
        outcome: Outcome,
        fields: dict[str, Any],
        head: ChainHead | None,
    ) -> AuditRecord:
        record = AuditRecord(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            seq=1 if head is None else head.seq + 1,
            at=self.clock.now(),
            event=event,
            key_id=actor.credential_id,
            user_id=actor.acting_user_id or "",
            via=via,
            host_id=fields.get("host_id"),
            host_name=fields.get("host_name"),
            action=fields.get("action"),
            parameters=fields.get("parameters") or {},
            argv_sha256=fields.get("argv_sha256"),
            outcome=outcome,
            remote_kind=fields.get("remote_kind"),
            exit_status=fields.get("exit_status"),
            signal=fields.get("signal"),
            stdout_sha256=fields.get("stdout_sha256"),
            stdout_bytes=fields.get("stdout_bytes"),
            stderr_sha256=fields.get("stderr_sha256"),
            stderr_bytes=fields.get("stderr_bytes"),
            duration_ms=fields.get("duration_ms"),
            run_id=fields.get("run_id"),
            detail=fields.get("detail") or "",
            prev_hash=GENESIS if head is None else head.hash,
            hash="",
            lease_id=fields.get("lease_id"),
        )
        return sealed(record)


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    host_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    user_id: str | None = None
    event: AuditEvent | None = None
    run_id: str | None = None
    lease_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueryAudit:
    """The tenant's Infra SSH audit records, newest first, filtered by host, action, outcome, user (X-User-Id),
    event or run. Each record: who (key id, X-User-Id, via rest or mcp), what (host, action, parameters, argv
    SHA-256), the outcome class (ok, validation_failed, approval_required, denied, remote_failed) with the
    remote kind, exit status or signal, output sizes and SHA-256, duration, and its place in the hash chain."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, query: AuditQuery, page: PageRequest) -> Page[AuditRecord]:
        operator_of(actor, self.scope)
        where = AuditFilter(**msgspec.structs.asdict(query))
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.ssh_audit.query(actor.tenant_id, where, page), lambda r: r)


@dataclass(frozen=True, slots=True)
class VerifyAudit:
    """Check the tenant's audit chain from its first record, and against every signed checkpoint kept
    outside the database: ok with the numbers of records and checkpoints checked, or the first record that
    does not follow from the one before (an edit, a deletion, a reordering or an insertion), the checkpoint
    the chain no longer matches (rewritten, or its tail removed), or a checkpoint whose signature is bad."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory
    checkpoints: AuditCheckpoints

    async def __call__(self, actor: Principal) -> Verification:
        operator_of(actor, self.scope)
        return await self.tenant(actor.tenant_id)

    async def tenant(self, tenant_id: str) -> Verification:
        """The same check for the operator of this server (``tesserra audit verify``), without a caller."""
        marks = await self.checkpoints.of_tenant(tenant_id)

        def genuine(mark: Checkpoint) -> bool:
            return mark.tenant_id == tenant_id and self.checkpoints.genuine(mark)

        async with self.uow(read_only=True) as uow:
            return await verify_chain(uow.ssh_audit.chain(tenant_id), marks, genuine)


@dataclass(frozen=True, slots=True)
class CheckpointAudit:
    """Sign and keep a checkpoint of where the tenant's chain ends now (``tesserra audit checkpoint``); None
    while it has no record."""

    uow: UnitOfWorkFactory
    checkpoints: AuditCheckpoints
    clock: Clock

    async def tenant(self, tenant_id: str) -> Checkpoint | None:
        async with self.uow(read_only=True) as uow:
            head = await uow.ssh_audit.head(tenant_id)
        if head is None:
            return None
        mark = Checkpoint(tenant_id=tenant_id, seq=head.seq, head_hash=head.hash, at=self.clock.now())
        return await self.checkpoints.keep(mark)
