"""Nodes in process (tests; one process is one node)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tesserra_core.ports.nodes import Node, NodeWorkload


class MemoryNodes:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        data_dir: str | None = None,
        boot_id: str | None = None,
        url: str | None = None,
    ) -> None:
        """The node's place (``data_dir``, ``boot_id``, ``url``), as ``SqlNodes`` keeps it with each beat."""
        self._clock = clock
        self._place = {"data_dir": data_dir, "boot_id": boot_id, "url": url}
        self._nodes: dict[str, Node] = {}
        self._workloads: dict[str, NodeWorkload] = {}

    async def beat(self, node_id: str, name: str, started_at: float) -> None:
        known = self._nodes.get(node_id)
        self._nodes[node_id] = Node(
            id=node_id,
            name=name,
            started_at=known.started_at if known else started_at,
            beat_at=self._clock(),
            **self._place,
        )

    async def stale(self, before: float) -> list[Node]:
        return [self._nodes[n] for n in sorted(self._nodes) if self._nodes[n].beat_at < before]

    async def alive(self, since: float) -> list[Node]:
        return [self._nodes[n] for n in sorted(self._nodes) if self._nodes[n].beat_at >= since]

    async def forget(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)

    async def record(self, workload: NodeWorkload) -> None:
        self._workloads[workload.workload_id] = workload

    async def drop(self, workload_id: str) -> None:
        self._workloads.pop(workload_id, None)

    async def workloads_of(self, node_id: str) -> list[NodeWorkload]:
        return [w for w in self._workloads.values() if w.node_id == node_id]

    async def workloads_of_tenant(self, tenant_id: str) -> list[NodeWorkload]:
        found = [w for w in self._workloads.values() if w.snapshot is not None and w.snapshot.tenant_id == tenant_id]
        return sorted(found, key=lambda w: w.workload_id)

    async def workload(self, workload_id: str) -> NodeWorkload | None:
        return self._workloads.get(workload_id)
