"""Nodes: the ``tesserra serve`` processes (one or several workers each) sharing one database. Each
node has an id of its own (kept in its data dir, so a restarted node is the same node), beats a row
while any of its workers runs, and records which workloads it started, so that when it dies (its
heartbeat goes stale) another node can find and reap what it left running."""

from __future__ import annotations

from typing import Protocol

import msgspec

from tesserra_core.ports.runtime import Workload


class Node(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    """Where it runs (host name), for people."""
    started_at: float
    beat_at: float
    """Its last heartbeat (epoch seconds)."""
    data_dir: str | None = None
    """Where it keeps its data (its process workloads among them), on its machine."""
    boot_id: str | None = None
    """Its machine's boot id: a node with the same one runs on this machine, since its last boot."""
    url: str | None = None
    """Where other nodes reach its HTTP server (``http://host:port``, TESSERRA_NODE_URL): a proxied
    request for a sandbox it runs, reaching a node on another machine, is forwarded there. None: it
    advertised none (it listens on a wildcard address and was not told one)."""


class NodeWorkload(msgspec.Struct, frozen=True, kw_only=True):
    """A workload a node started (or adopted), as recorded."""

    workload_id: str
    node_id: str
    owner: str
    runtime: str
    snapshot: Workload | None = None
    """The workload (its tenant, state, image, ports) as its node last saw it: what another node shows of
    it, since only its own node's runtime can inspect it."""

    @classmethod
    def of(cls, workload: Workload, node_id: str, runtime: str) -> NodeWorkload:
        """``workload`` as node ``node_id`` sees it now, on its runtime named ``runtime``."""
        return cls(workload_id=workload.id, node_id=node_id, owner=workload.owner, runtime=runtime, snapshot=workload)


class Nodes(Protocol):
    async def beat(self, node_id: str, name: str, started_at: float) -> None:
        """The node is alive now (its row made on the first beat)."""
        ...

    async def stale(self, before: float) -> list[Node]:
        """The nodes whose last heartbeat is older than ``before``."""
        ...

    async def alive(self, since: float) -> list[Node]:
        """The nodes that beat at ``since`` or later."""
        ...

    async def forget(self, node_id: str) -> None:
        """Drop a node's row (it was reaped), unless it beat again meanwhile is of no matter: a node
        that beats again makes it anew."""
        ...

    async def record(self, workload: NodeWorkload) -> None:
        """A node started (or adopted) this workload; recorded again, the last owner wins."""
        ...

    async def drop(self, workload_id: str) -> None:
        """The workload was removed."""
        ...

    async def workloads_of(self, node_id: str) -> list[NodeWorkload]: ...

    async def workloads_of_tenant(self, tenant_id: str) -> list[NodeWorkload]:
        """The workloads of the tenant that any node recorded with a snapshot, by id."""
        ...

    async def workload(self, workload_id: str) -> NodeWorkload | None: ...


class ForeignWorkloads(Protocol):
    async def remove(self, node: Node, workload_id: str) -> bool:
        """Remove workload ``workload_id`` of dead ``node`` that this node's runtime cannot reach (a
        process workload kept in that node's data dir), if this node can do it safely: True if it was
        removed (or was already gone), False if it is out of reach (left for lost)."""
        ...


class NoForeignWorkloads:
    """Nothing of another node's is in reach."""

    async def remove(self, node: Node, workload_id: str) -> bool:
        return False


class NoNodes:
    """One node and nobody to reap for (the default of ports that do not say otherwise)."""

    async def beat(self, node_id: str, name: str, started_at: float) -> None:
        return None

    async def stale(self, before: float) -> list[Node]:
        return []

    async def alive(self, since: float) -> list[Node]:
        return []

    async def forget(self, node_id: str) -> None:
        return None

    async def record(self, workload: NodeWorkload) -> None:
        return None

    async def drop(self, workload_id: str) -> None:
        return None

    async def workloads_of(self, node_id: str) -> list[NodeWorkload]:
        return []

    async def workloads_of_tenant(self, tenant_id: str) -> list[NodeWorkload]:
        return []

    async def workload(self, workload_id: str) -> NodeWorkload | None:
        return None
