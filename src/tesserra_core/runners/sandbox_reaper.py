"""The sandbox reaper: acts on the clocks (TTL, idle) within ``interval`` of a deadline, and keeps the
database and the runtime in agreement.

At start it settles every sandbox a previous process left in a transient state and removes workloads
no live sandbox owns. Then, every ``interval`` seconds, it acts on the sandboxes whose deadline has
passed (re-reading each under its lock first: a keepalive that came in meanwhile wins), and every
``check_every`` rounds it moves to ``error`` the running sandboxes whose workload died and settles
transient states older than ``stale_after`` (a worker that crashed mid-action). Every worker runs one;
compare-and-set on each row makes the same action by two of them happen once. (Several workers
starting at once could each settle a sandbox another has just begun acting on: a lease that elects
one reconciler is left for later.)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from tesserra_core.domain.sandboxes import TRANSIENT, SandboxState
from tesserra_core.errors import TesserraError, describe
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.runners.rounds import rounds
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle

log = logging.getLogger("tesserra.sandboxes")

OWNER_PREFIX = "sandbox:"


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
    _rounds: int = field(default=0, init=False)

    async def sweep(self) -> int:
        """Act on every sandbox whose clock has run out; how many were acted on."""
        now = self.clock.now()
        async with self.uow(read_only=True) as uow:
            due = await uow.sandboxes.due(now, self.batch)
        done = 0
        for sandbox in due:
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
        A sandbox in a transient state is being acted on (its new workload not yet recorded): left."""
        runtime = self.lifecycle.runtime
        workloads = await runtime.list(OWNER_PREFIX)
        async with self.uow(read_only=True) as uow:
            live = {s.owner: s for s in await uow.sandboxes.live()}
        removed = 0
        for workload in workloads:
            sandbox = live.get(workload.owner)
            if sandbox is not None and sandbox.state in TRANSIENT:
                continue
            if sandbox is None or sandbox.workload_id != workload.id:
                log.info("removing stray workload %s of %s", workload.id, workload.owner)
                await runtime.remove(workload.id)
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
        try:
            await self.reconcile()
        except Exception:
            log.exception("reconciling sandboxes at start failed; continuing")
        async with rounds(self._round, self.interval, log, "sandbox reaper round failed"):
            yield self

    async def _round(self) -> None:
        self._rounds += 1
        await self.sweep()
        if self._rounds % self.check_every == 0:
            await self.check()
            await self.reconcile(older_than=self.stale_after)
