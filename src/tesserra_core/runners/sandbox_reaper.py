"""The sandbox reaper and reconciler: one runner across the cluster (the holder of lease
``reconciler``) that acts on the clocks (TTL, idle) within ``interval`` of a deadline, keeps the
database and the runtime in agreement, and reaps the workloads of dead nodes.

When it takes the lease (at start, or from a holder that died) it settles the sandboxes left in a
transient state (all of them when no other node is alive: a previous process of this node left them;
otherwise only those older than ``stale_after``, another node may be acting on the rest) and removes
workloads no live sandbox owns. Then, every ``interval`` seconds, it acts on the sandboxes whose
deadline has passed (re-reading each under its lock first: a keepalive that came in meanwhile wins),
every ``check_every`` rounds it moves to ``error`` the running sandboxes whose workload died and
settles transient states older than ``stale_after`` (a worker that crashed mid-action), and every
``reap_every`` rounds it reaps the nodes whose heartbeat went stale (``NodeReaper``). Its writes are
fenced by the lease's generation and it checks the lease before each removal, so a holder that stalled
past its lease stops rather than acting alongside its successor.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from tesserra_core.domain.sandboxes import TRANSIENT, SandboxState
from tesserra_core.errors import TesserraError, describe
from tesserra_core.ports.leases import FENCE, still_held
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.runners.leased import LeaseTerms, leased_rounds
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle

log = logging.getLogger("tesserra.sandboxes")

OWNER_PREFIX = "sandbox:"
LEASE = "reconciler"


class DeadNodes(Protocol):
    """What the reconciler asks of the node reaper (``runners.nodes.NodeReaper``)."""

    async def others_alive(self) -> bool: ...

    async def __call__(self) -> int: ...


@dataclass
class SandboxReaper:
    uow: UnitOfWorkFactory
    lifecycle: SandboxLifecycle
    clock: Clock
    interval: float = 0.5
    check_every: int = 20
    stale_after: float = 120.0
    """While serving, a transient state this old is taken for one a crashed worker left."""
    batch: int = 100
    lease: LeaseTerms = field(default_factory=LeaseTerms)
    dead_nodes: DeadNodes | None = None
    reap_every: int = 4
    _rounds: int = field(default=0, init=False)
    _generation: int | None = field(default=None, init=False)

    async def sweep(self) -> int:
        """Act on every sandbox whose clock has run out; how many were acted on."""
        now = self.clock.now()
        async with self.uow(read_only=True) as uow:
            due = await uow.sandboxes.due(now, self.batch)
        done = 0
        for sandbox in due:
            still_held()
            wanted = sandbox.due(now)
            if wanted is None:
                continue
            action, cause = wanted
            try:
                await self.lifecycle.act(sandbox.tenant_id, sandbox.id, action, cause, only_if_due=True)
                done += 1
            except TesserraError as exc:
                log.warning("%s of sandbox %s on its %s clock failed: %s", action, sandbox.id, cause, describe(exc))
        return done

    async def reconcile(self, *, older_than: float = 0.0) -> int:
        """Settle the sandboxes left in transient states (for ``older_than`` seconds at least: while
        serving, an action in flight is left to finish), remove workloads no live sandbox owns and
        what the runtime kept for workloads now gone (Docker's empty private networks); how many
        sandboxes were settled."""
        stale = self.clock.now() - timedelta(seconds=older_than)
        async with self.uow(read_only=True) as uow:
            unsettled = [s for s in await uow.sandboxes.unsettled() if not older_than or s.updated_at <= stale]
        for sandbox in unsettled:
            still_held()
            try:
                await self.lifecycle.repair(sandbox)
            except TesserraError as exc:
                log.warning("repairing sandbox %s failed: %s", sandbox.id, describe(exc))
        await self.remove_strays()
        await self.lifecycle.runtime.tidy()
        return len(unsettled)

    async def remove_strays(self) -> int:
        """Remove the workloads no live sandbox owns. The workloads are listed before the sandboxes are
        read: a sandbox's row is stored before its workload starts, so a workload listed has its row
        read (read first, a sandbox created in between was taken for a stray, killed mid-create).
        A sandbox in a transient state is being acted on (its new workload not yet recorded): left.
        Whose each workload is suffices: the runtime's ``statuses`` (on Docker one listing, where
        ``list`` inspects every container)."""
        runtime = self.lifecycle.runtime
        workloads = await runtime.statuses(OWNER_PREFIX)
        async with self.uow(read_only=True) as uow:
            live = {s.owner: s for s in await uow.sandboxes.live()}
        removed = 0
        for workload_id, workload in workloads.items():
            sandbox = live.get(workload.owner)
            if sandbox is not None and sandbox.state in TRANSIENT:
                continue
            if sandbox is None or sandbox.workload_id != workload_id:
                still_held()
                log.info("removing stray workload %s of %s", workload_id, workload.owner)
                await runtime.remove(workload_id)
                removed += 1
        return removed

    async def check(self) -> None:
        """Running sandboxes whose workload died move to ``error``."""
        async with self.uow(read_only=True) as uow:
            live = await uow.sandboxes.live()
        for sandbox in live:
            if sandbox.state in (SandboxState.RUNNING, SandboxState.PAUSED):
                await self.lifecycle.check(sandbox)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SandboxReaper]:
        async with leased_rounds(LEASE, self._round, self.interval, self.lease, "sandbox reconciler round failed"):
            yield self

    async def _round(self) -> None:
        fence = FENCE.get()
        generation = fence.generation if fence is not None else None
        if generation != self._generation:  # the lease was (re)taken: settle what its last holder left
            alone = self.dead_nodes is None or not await self.dead_nodes.others_alive()
            await self.reconcile(older_than=0.0 if alone else self.stale_after)
            self._generation = generation
        self._rounds += 1
        await self.sweep()
        if self._rounds % self.check_every == 0:
            await self.check()
            await self.reconcile(older_than=self.stale_after)
        if self.dead_nodes is not None and self._rounds % self.reap_every == 0:
            await self.dead_nodes()
