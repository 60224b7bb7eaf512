"""Nodes: each process beats its node's row (``NodeHeartbeat``, in every worker: a node is alive while
any of its workers is), and the holder of the reconciler's lease reaps the nodes whose heartbeat went
stale (``NodeReaper``): every workload such a node recorded is removed where this node's runtime
reaches it (Docker containers on a shared engine), or a process workload in the dead node's data
dir when that node ran on this machine and none of its processes is alive (``ForeignWorkloads``;
otherwise it is left for lost) and its owner is told the truth: a sandbox moves to ``error``, an installation's server
to ``stopped`` (it starts again on next use, here), a resource is provisioned again. Then the node's
row and records are forgotten."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tesserra_core.domain.tools import InstallationStatus, installation_of
from tesserra_core.errors import TesserraError, describe
from tesserra_core.ports.leases import LeaseLost, NodeBeat, still_held
from tesserra_core.ports.nodes import ForeignWorkloads, Node, Nodes, NodeWorkload, NoForeignWorkloads
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.system import Clock
from tesserra_core.runners.leased import LeaseTerms
from tesserra_core.runners.provisioner import Provisioner
from tesserra_core.runners.rounds import rounds
from tesserra_core.runners.tool_servers import ToolServers
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle

log = logging.getLogger("tesserra.nodes")


@dataclass
class NodeHeartbeat:
    """This process's beat of its node's row: at start, then every ``interval`` seconds; carried by
    the process's lease claims (one transaction a tick for both) when ``lease``'s store keeps the
    nodes' rows too (``RunnerLeases.carries_beats``; its tick is then the interval), else on its own."""

    nodes: Nodes
    clock: Clock
    node_id: str
    name: str
    interval: float = 1.0
    started_at: float = field(default=0.0)
    lease: LeaseTerms | None = None

    async def beat(self) -> None:
        await self.nodes.beat(self.node_id, self.name, self.started_at or self.clock.now().timestamp())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.started_at = self.clock.now().timestamp()
        lease = self.lease
        if lease is None or not lease.leases.carries_beats:
            async with rounds(self.beat, self.interval, log, "node heartbeat failed"):
                yield
            return
        try:
            await self.beat()  # the row, before anything this node starts is recorded against it
        except Exception:
            log.exception("node heartbeat failed")
        lease.renewals.carry(NodeBeat(self.node_id, self.name, self.started_at), lease)
        try:
            yield
        finally:
            await lease.renewals.drop()


@dataclass
class NodeReaper:
    """Reaps the workloads of nodes silent for ``dead_after`` seconds (run by the reconciler's lease
    holder). A node partitioned from the database for that long is taken for dead too: its workloads
    are reaped, and it finds them gone (its sandboxes in ``error``) when it is back."""

    nodes: Nodes
    runtime: ContainerRuntime
    uow: UnitOfWorkFactory
    clock: Clock
    node_id: str
    lifecycle: SandboxLifecycle
    servers: ToolServers
    provisioner: Provisioner
    foreign: ForeignWorkloads = field(default_factory=NoForeignWorkloads)
    dead_after: float = 10.0

    async def others_alive(self) -> bool:
        """Another node beat within ``dead_after`` seconds."""
        since = self.clock.now().timestamp() - self.dead_after
        return any(node.id != self.node_id for node in await self.nodes.alive(since))

    async def __call__(self) -> int:
        """Reap every dead node; how many workloads were reaped."""
        reaped = 0
        for node in await self.nodes.stale(self.clock.now().timestamp() - self.dead_after):
            if node.id == self.node_id:
                continue  # this node is alive: it is running this
            reaped += await self._reap(node)
        return reaped

    async def _reap(self, node: Node) -> int:
        workloads = await self.nodes.workloads_of(node.id)
        log.warning("node %s (%s) stopped beating: reaping its %d workloads", node.id, node.name, len(workloads))
        detail = f"its node {node.id} ({node.name}) stopped answering; the workload was lost"
        for workload in workloads:
            still_held()
            try:
                await self._reap_one(node, workload, detail)
            except LeaseLost:
                raise
            except TesserraError as exc:
                log.warning("reaping workload %s of node %s failed: %s", workload.workload_id, node.id, describe(exc))
                continue
            await self.nodes.drop(workload.workload_id)
        still_held()
        if not await self.nodes.workloads_of(node.id):
            await self.nodes.forget(node.id)
        return len(workloads)

    async def _reap_one(self, node: Node, recorded: NodeWorkload, detail: str) -> None:
        owner = recorded.owner
        if owner.startswith("sandbox:"):
            await self.lifecycle.lost(owner.removeprefix("sandbox:"), recorded.workload_id, detail)
        elif (installation_id := installation_of(owner)) is not None:
            async with self.uow(read_only=True) as uow:
                installation = await uow.installations.find(installation_id)
            if installation is not None and installation.workload_id == recorded.workload_id:
                await self.servers.mark(
                    installation_id, InstallationStatus.STOPPED, f"{detail}; it starts again on next use"
                )
        elif owner.startswith("resource:"):
            await self.provisioner.lost(owner.removeprefix("resource:"), recorded.workload_id, detail)
        workload = await self.runtime.inspect(recorded.workload_id)
        if workload is not None:  # reachable from here (a shared Docker engine): removed
            await self.runtime.remove(recorded.workload_id)
        elif not await self.foreign.remove(node, recorded.workload_id):  # a process in the dead node's data dir
            log.warning("workload %s of node %s is out of reach: left for lost", recorded.workload_id, node.id)
