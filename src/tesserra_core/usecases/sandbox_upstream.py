"""Where a sandbox's workload answers, for the proxy: read from the runtime once per workload and
transition, or told by the lifecycle that has just started it (the runtime's own answer to that start),
so a sandbox's first proxied request does not ask the runtime again.

A workload another node started is not in this node's runtime (a process runtime's workloads are its
node's own): its address and ports are the ones that node recorded (``Nodes.workload``'s snapshot,
kept current by its ``WorkloadWatch``), used only when that node runs on this machine (the same boot
id), where its loopback and its containers' addresses are this node's too. From another machine the
recorded address would name something else here (127.0.0.1 is this machine's): the request goes to
that node instead (``NodeHop``: its advertised address, TESSERRA_NODE_URL), which proxies it as its
own. A node that advertises no address, or is not alive, is a 502, never a guess nor a hang.

Where another node's workload answers is kept for ``HOP_TTL`` seconds only (that node may restart
elsewhere, or die): a proxied request reads the node records at most that often per sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import msgspec

from tesserra_core.domain.addresses import http_host_port
from tesserra_core.domain.sandboxes import Sandbox
from tesserra_core.errors import UpstreamFailed
from tesserra_core.ports.nodes import Node, Nodes, NoNodes
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadState

MAX_KNOWN = 10_000
HOP_TTL = 2.0
"""Seconds a sandbox's owning node on another machine (and its address) is taken as known."""
DEAD_AFTER = 10.0
"""Seconds without a heartbeat after which a node is taken for dead (``Settings.node_timeout``)."""


class NodeHop(msgspec.Struct, frozen=True, kw_only=True):
    """The sandbox's workload runs on node ``node_id``, on another machine: the proxied request goes
    to that node's own HTTP server, at ``host``:``port`` (its advertised address; an IPv6 ``host``
    without the URL's brackets, as sockets take it)."""

    node_id: str
    host: str
    port: int


Upstream = tuple[str, Mapping[int, int]] | NodeHop
"""Where a sandbox's traffic goes: its workload's address and the host port of each declared port,
or the node that runs it."""


def _hop_to(node: Node) -> NodeHop:
    """Where ``node`` (on another machine) answers, from the address it advertises."""
    if not node.url:
        raise UpstreamFailed(
            f"the sandbox runs on node {node.id} on another machine, which advertises no address (TESSERRA_NODE_URL)",
            code="sandbox_unreachable",
        )
    where = http_host_port(node.url)
    if where is None:
        raise UpstreamFailed(
            f"the sandbox runs on node {node.id}, whose advertised address is not http://host:port",
            code="sandbox_unreachable",
        )
    return NodeHop(node_id=node.id, host=where[0], port=where[1])


def _marker(sandbox: Sandbox) -> tuple[str | None, object]:
    return sandbox.workload_id, sandbox.events[-1].at if sandbox.events else sandbox.created_at


class UpstreamPorts:
    """Where a sandbox's workload answers (its address and the port of each declared port), keyed by
    the sandbox's stored workload and last event, so a start or restart reads them again."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        nodes: Nodes | None = None,
        node_id: str = "",
        *,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        dead_after: float = DEAD_AFTER,
    ) -> None:
        self.runtime = runtime
        self.nodes = nodes or NoNodes()
        self.node_id = node_id
        self.now = now
        """Epoch seconds, as heartbeats are recorded."""
        self.monotonic = monotonic
        self.dead_after = dead_after
        self._known: dict[str, tuple[tuple[str | None, object], tuple[str, Mapping[int, int]]]] = {}
        self._hops: dict[str, tuple[tuple[str | None, object], float, NodeHop]] = {}

    async def of(self, sandbox: Sandbox) -> Upstream:
        if sandbox.workload_id is None:
            raise UpstreamFailed("the sandbox has no workload", code="sandbox_unreachable")
        known = self._known.get(sandbox.id)
        if known is not None and known[0] == _marker(sandbox):
            return known[1]
        hop = self._hops.get(sandbox.id)
        if hop is not None and hop[0] == _marker(sandbox) and self.monotonic() < hop[1]:
            return hop[2]
        workload = await self.runtime.inspect(sandbox.workload_id)
        if workload is None:
            elsewhere = await self._neighbours(sandbox.workload_id)
            if isinstance(elsewhere, NodeHop):
                return self._keep_hop(sandbox, elsewhere)
            workload = elsewhere
        if workload is None or workload.state is not WorkloadState.RUNNING:
            raise UpstreamFailed("the sandbox's workload is not running", code="sandbox_unreachable")
        return self._keep(sandbox, workload)

    async def _neighbours(self, workload_id: str) -> Workload | NodeHop | None:
        """The workload as the node that runs it recorded it, if that node is another one on this
        machine; that node, if it is on another machine and advertises where it answers; else None
        (no other node runs it). A node on another machine that advertises no address, or is not
        alive, is a 502."""
        record = await self.nodes.workload(workload_id)
        if record is None or record.snapshot is None or record.node_id == self.node_id:
            return None
        if record.snapshot.state is not WorkloadState.RUNNING:
            return record.snapshot
        alive = {n.id: n for n in await self.nodes.alive(self.now() - self.dead_after)}
        owner = alive.get(record.node_id)
        if owner is None:
            raise UpstreamFailed(
                f"the sandbox runs on node {record.node_id}, which is not alive", code="sandbox_unreachable"
            )
        here = alive.get(self.node_id)
        if here is not None and here.boot_id is not None and here.boot_id == owner.boot_id:
            return record.snapshot
        return _hop_to(owner)

    def _keep_hop(self, sandbox: Sandbox, hop: NodeHop) -> NodeHop:
        if len(self._hops) > MAX_KNOWN:
            self._hops.clear()
        self._hops[sandbox.id] = (_marker(sandbox), self.monotonic() + HOP_TTL, hop)
        return hop

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
