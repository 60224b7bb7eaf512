"""A runtime whose workloads are recorded as this node's (``Nodes.record``), so that another node can
reap them when this one dies, and list them: every call goes to the runtime it wraps; a workload made,
adopted, started, stopped, restarted, paused or resumed is recorded as this node's (the last node to act
on it owns it) with its state then (what other nodes show of it), one removed is dropped. A record that
cannot be written is logged and the workload runs all the same (the reconcilers find it as a stray if
its owner is gone)."""

from __future__ import annotations

import asyncio
import logging

from tesserra_core.ports.nodes import Nodes, NodeWorkload
from tesserra_core.ports.runtime import ContainerRuntime, StdioChannel, Workload, WorkloadSpec, WorkloadStatus

log = logging.getLogger("tesserra.runtime")


class NodeRecordedRuntime:
    def __init__(self, runtime: ContainerRuntime, nodes: Nodes, node_id: str) -> None:
        self.inner = runtime
        self.name = runtime.name
        self._nodes = nodes
        self._node_id = node_id

    @property
    def pools_per_tenant(self) -> bool:
        return self.inner.pools_per_tenant

    async def _recorded(self, workload: Workload) -> Workload:
        """Recorded whatever happens to the caller meanwhile (the record is written to the end)."""
        return await asyncio.shield(self._record(workload))

    async def _record(self, workload: Workload) -> Workload:
        try:
            await self._nodes.record(NodeWorkload.of(workload, self._node_id, self.name))
        except Exception:
            log.warning("recording workload %s as node %s's failed", workload.id, self._node_id, exc_info=True)
        return workload

    def admit(self, spec: WorkloadSpec) -> None:
        self.inner.admit(spec)

    async def run(self, spec: WorkloadSpec) -> Workload:
        """A run cancelled while its workload is being recorded removes the workload, as a run cancelled
        inside the runtime does: the caller never learns its id, so nobody else would."""
        workload = await self.inner.run(spec)
        recording = asyncio.ensure_future(self._record(workload))
        try:
            return await asyncio.shield(recording)
        except asyncio.CancelledError:
            await asyncio.shield(self.remove(workload.id))
            raise

    async def adopt(self, workload_id: str, owner: str, tenant_id: str, *, resume: bool = False) -> Workload:
        return await self._recorded(await self.inner.adopt(workload_id, owner, tenant_id, resume=resume))

    async def remove(self, workload_id: str) -> None:
        await self.inner.remove(workload_id)
        try:
            await self._nodes.drop(workload_id)
        except Exception:
            log.warning("dropping the record of workload %s failed", workload_id, exc_info=True)

    async def start(self, workload_id: str) -> Workload:
        return await self._recorded(await self.inner.start(workload_id))  # now this node's

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        return await self._recorded(await self.inner.stop(workload_id, grace=grace))

    async def restart(self, workload_id: str) -> Workload:
        return await self._recorded(await self.inner.restart(workload_id))

    async def pause(self, workload_id: str) -> Workload:
        return await self._recorded(await self.inner.pause(workload_id))

    async def resume(self, workload_id: str) -> Workload:
        return await self._recorded(await self.inner.resume(workload_id))

    async def tidy(self) -> int:
        return await self.inner.tidy()

    async def inspect(self, workload_id: str) -> Workload | None:
        return await self.inner.inspect(workload_id)

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        return await self.inner.list(owner_prefix)

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        return await self.inner.statuses(owner_prefix)

    async def attach(self, workload_id: str) -> StdioChannel:
        return await self.inner.attach(workload_id)

    async def logs(self, workload_id: str, *, tail: int = 100) -> str:
        return await self.inner.logs(workload_id, tail=tail)
