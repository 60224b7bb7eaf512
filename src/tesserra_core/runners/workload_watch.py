"""What a node's runtime sees happen to its workloads by themselves (a process that exits, a container
that dies, one frozen or thawed outside the API) reaches the state every node reads, within ``BOUND``
seconds: the workload's record (the snapshot other nodes show in ``GET /api/containers``) is written
again, and a sandbox whose workload stopped running moves to ``error`` with the exit code (``oom`` when
the kernel killed it), as ``GET /api/sandboxes/{id}`` then answers on every node.

In every process of every node, on its own workloads only: each ``interval`` it asks the runtime for its
managed workloads' statuses (``ContainerRuntime.statuses``: owner, state, paused, exit code) and compares
each one's with what it saw the round before. Only a workload that changed (or that it sees for the
first time, at start) costs more: it is inspected, its record is read, and only if this node owns it and
its snapshot is out of date is it written again. A quiet round is one ``statuses`` and nothing else (no
inspection, no database access). Actions taken through the API record their own result
(``NodeRecordedRuntime``) and are seen here as already recorded.

What a quiet round costs: on Docker one listing of the engine (``containers.list``, the state and exit
code read from its summaries), whatever the number of containers, where ``list`` would inspect each one
(200 containers and 4 workers: 800 inspections a second); on the process runtime what ``list`` costs, no
more (each workload's record read from the data dir, its process checked alive, its log's size looked at
and the log trimmed past its bound); on the memory runtime nothing but memory.

Why polling, not the runtime's events: the port has no event stream (a process runtime learns of an
exit in the worker that spawned the process), and one cheap listing per second bounds the delay at a
cost a quiet node barely notices. The further step on Docker would be its events (``/events`` filtered
on the managed label): one stream per process, resumed with ``since`` the last event seen when it
reconnects so nothing is missed, and this poll kept as a slow safety net (every 30 s, say) for what a
stream can still lose; not built, as the listing alone keeps a quiet round cheap."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tesserra_core.domain.sandboxes import SandboxState
from tesserra_core.errors import describe
from tesserra_core.ports.nodes import Nodes, NodeWorkload
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadStatus
from tesserra_core.runners.rounds import rounds
from tesserra_core.usecases.containers import MANAGED_OWNERS
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle

log = logging.getLogger("tesserra.nodes")

BOUND = 2.0
"""Seconds within which a workload's change of its own is what every node answers (documented)."""
SANDBOX_OWNER = "sandbox:"


def _seen(workload: Workload | WorkloadStatus) -> tuple[str, bool, int | None]:
    return workload.state.value, workload.paused, workload.exit_code


@dataclass
class WorkloadWatch:
    nodes: Nodes
    runtime: ContainerRuntime
    uow: UnitOfWorkFactory
    lifecycle: SandboxLifecycle
    node_id: str
    interval: float = 1.0
    _last: dict[str, tuple[str, bool, int | None]] = field(default_factory=dict, init=False)

    async def round(self) -> int:
        """Compare this node's workloads with the last round; how many changes were passed on."""
        # One call for every owner: on the process runtime it reads every record, on Docker it lists once.
        current = {
            workload_id: _seen(status)
            for workload_id, status in (await self.runtime.statuses()).items()
            if status.owner.startswith(MANAGED_OWNERS)
        }
        changed = [workload_id for workload_id, seen in current.items() if self._last.get(workload_id) != seen]
        self._last = current
        passed = 0
        for workload_id in changed:
            try:
                workload = await self.runtime.inspect(workload_id)
                if workload is not None and await self._pass_on(workload):  # None: removed meanwhile
                    passed += 1
            except Exception as exc:  # the database away, the sandbox busy: tried again next round
                self._last.pop(workload_id, None)
                log.warning("passing on workload %s's change failed: %s", workload_id, describe(exc))
        return passed

    async def _pass_on(self, workload: Workload) -> bool:
        record = await self.nodes.workload(workload.id)
        if record is None or record.node_id != self.node_id:
            return False  # another node's (a shared Docker engine lists them too), or not recorded
        if record.snapshot is not None and _seen(record.snapshot) == _seen(workload):
            return False  # recorded already (an action through the API)
        await self.nodes.record(NodeWorkload.of(workload, self.node_id, record.runtime))
        if workload.owner.startswith(SANDBOX_OWNER):
            await self._settle_sandbox(workload.owner.removeprefix(SANDBOX_OWNER), workload.id)
        return True

    async def _settle_sandbox(self, sandbox_id: str, workload_id: str) -> None:
        async with self.uow(read_only=True) as uow:
            sandbox = await uow.sandboxes.find(sandbox_id)
        if sandbox is None or sandbox.workload_id != workload_id:
            return
        if sandbox.state in (SandboxState.RUNNING, SandboxState.PAUSED):
            await self.lifecycle.check(sandbox)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with rounds(self.round, self.interval, log, "workload watch round failed"):
            yield
