"""Where a sandbox's workload answers, for the proxy: read from the runtime once per workload and
transition, or told by the lifecycle that has just started it (the runtime's own answer to that start),
so a sandbox's first proxied request does not ask the runtime again.

A workload another node started is not in this node's runtime (a process runtime's workloads are its
node's own): its address and ports are the ones that node recorded (``Nodes.workload``'s snapshot,
kept current by its ``WorkloadWatch``), used only when that node runs on this machine (the same boot
id), where its loopback and its containers' addresses are this node's too. From another machine the
recorded address would name something else here (127.0.0.1 is this machine's): 502, never a guess."""

from __future__ import annotations

from collections.abc import Mapping

from tesserra_core.domain.sandboxes import Sandbox
from tesserra_core.errors import UpstreamFailed
from tesserra_core.ports.nodes import Nodes, NoNodes
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadState

MAX_KNOWN = 10_000


def _marker(sandbox: Sandbox) -> tuple[str | None, object]:
    return sandbox.workload_id, sandbox.events[-1].at if sandbox.events else sandbox.created_at


class UpstreamPorts:
    """Where a sandbox's workload answers (its address and the port of each declared port), keyed by
    the sandbox's stored workload and last event, so a start or restart reads them again."""

    def __init__(self, runtime: ContainerRuntime, nodes: Nodes | None = None, node_id: str = "") -> None:
        self.runtime = runtime
        self.nodes = nodes or NoNodes()
        self.node_id = node_id
        self._known: dict[str, tuple[tuple[str | None, object], tuple[str, Mapping[int, int]]]] = {}

    async def of(self, sandbox: Sandbox) -> tuple[str, Mapping[int, int]]:
        if sandbox.workload_id is None:
            raise UpstreamFailed("the sandbox has no workload", code="sandbox_unreachable")
        known = self._known.get(sandbox.id)
        if known is not None and known[0] == _marker(sandbox):
            return known[1]
        workload = await self.runtime.inspect(sandbox.workload_id)
        if workload is None:
            workload = await self._neighbours(sandbox.workload_id)
        if workload is None or workload.state is not WorkloadState.RUNNING:
            raise UpstreamFailed("the sandbox's workload is not running", code="sandbox_unreachable")
        return self._keep(sandbox, workload)

    async def _neighbours(self, workload_id: str) -> Workload | None:
        """The workload as the node that runs it recorded it, if that node is another one on this
        machine; else None."""
        record = await self.nodes.workload(workload_id)
        if record is None or record.snapshot is None or record.node_id == self.node_id:
            return None
        boots = {n.id: n.boot_id for n in await self.nodes.alive(0.0)}
        here, there = boots.get(self.node_id), boots.get(record.node_id)
        if here is None or here != there:
            raise UpstreamFailed(
                "the sandbox runs on a node on another machine, which this node's proxy cannot reach",
                code="sandbox_unreachable",
            )
        return record.snapshot

    def learn(self, sandbox: Sandbox, workload: Workload) -> None:
        """``sandbox`` as just stored runs ``workload``, as the runtime answered the call that started
        it: its next proxied request goes there without asking the runtime."""
        if workload.id == sandbox.workload_id and workload.state is WorkloadState.RUNNING and not workload.paused:
            self._keep(sandbox, workload)

    def _keep(self, sandbox: Sandbox, workload: Workload) -> tuple[str, Mapping[int, int]]:
        if len(self._known) > MAX_KNOWN:
            self._known.clear()
        where = (workload.address, dict(workload.ports))
        self._known[sandbox.id] = (_marker(sandbox), where)
        return where
