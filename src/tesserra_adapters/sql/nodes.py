"""Nodes and the workloads they started, as rows shared by every node on the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.engine import read_only
from tesserra_adapters.sql.limits import insert_new
from tesserra_core.ports.leases import NodeBeat
from tesserra_core.ports.nodes import Node, NodeWorkload
from tesserra_core.ports.runtime import Workload


class SqlNodes:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], float] = time.time,
        *,
        data_dir: str | None = None,
        boot_id: str | None = None,
        url: str | None = None,
    ) -> None:
        """``data_dir`` and ``boot_id``: where this node keeps its data, on which boot of its machine
        (written with each beat, for a node on the same machine to reach its process workloads);
        ``url``: where other nodes reach its HTTP server (the proxy's node hop)."""
        self._engine = engine
        self._reader = read_only(engine)
        """Reads, each statement on its own (no BEGIN nor ROLLBACK round trips): the reconciler's
        holder reads the stale nodes every 2 s."""
        self._clock = clock
        self._place = {"data_dir": data_dir, "boot_id": boot_id, "url": url}
        self._beats: dict[str, Insert] = {}
        """``beat_on``'s statement per dialect, built once (its compiled form cached)."""

    async def beat(self, node_id: str, name: str, started_at: float) -> None:
        async with self._engine.begin() as conn:
            await self.beat_on(conn, node_id, name, started_at)

    async def beat_on(self, conn: AsyncConnection, node_id: str, name: str, started_at: float) -> None:
        """``beat`` in the transaction open on ``conn`` (a lease claim carrying it): one upsert, the row
        made on the first beat (``started_at`` kept from then on)."""
        statement = self._beats.get(conn.dialect.name)
        if statement is None:
            statement = self._beats[conn.dialect.name] = _beat_statement(conn.dialect.name)
        await conn.execute(statement, self.beat_row(NodeBeat(node_id, name, started_at), self._clock()))

    def beat_row(self, beat: NodeBeat, at: float) -> dict[str, Any]:
        """The node's row as ``beat`` at ``at`` writes it (for a lease claim that carries it)."""
        row = {"id": beat.node_id, "name": beat.name[:255], "started_at": beat.started_at, "beat_at": at}
        return {**row, **self._place}

    async def stale(self, before: float) -> list[Node]:
        n = t.nodes.c
        return await self._nodes(n.beat_at < before)

    async def alive(self, since: float) -> list[Node]:
        n = t.nodes.c
        return await self._nodes(n.beat_at >= since)

    async def _nodes(self, where: ColumnElement[bool]) -> list[Node]:
        async with self._reader.connect() as conn:
            rows = (await conn.execute(select(t.nodes).where(where).order_by(t.nodes.c.id))).all()
        return [
            Node(
                id=r.id,
                name=r.name,
                started_at=r.started_at,
                beat_at=r.beat_at,
                data_dir=r.data_dir,
                boot_id=r.boot_id,
                url=r.url,
            )
            for r in rows
        ]

    async def forget(self, node_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(t.nodes).where(t.nodes.c.id == node_id))

    async def record(self, workload: NodeWorkload) -> None:
        w = t.node_workloads.c
        row = {
            "workload_id": workload.workload_id,
            "node_id": workload.node_id,
            "owner": workload.owner[:255],
            "runtime": workload.runtime[:16],
            "recorded_at": self._clock(),
            "tenant_id": workload.snapshot.tenant_id[:64] if workload.snapshot is not None else None,
            "snapshot": msgspec.json.encode(workload.snapshot).decode() if workload.snapshot is not None else None,
        }
        async with self._engine.begin() as conn:
            if not await insert_new(conn, t.node_workloads, row):
                await conn.execute(update(t.node_workloads).where(w.workload_id == workload.workload_id).values(row))

    async def drop(self, workload_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(t.node_workloads).where(t.node_workloads.c.workload_id == workload_id))

    async def workloads_of(self, node_id: str) -> list[NodeWorkload]:
        return await self._select(t.node_workloads.c.node_id == node_id, t.node_workloads.c.recorded_at)

    async def workloads_of_tenant(self, tenant_id: str) -> list[NodeWorkload]:
        w = t.node_workloads.c
        return await self._select((w.tenant_id == tenant_id) & w.snapshot.is_not(None), w.workload_id)

    async def workload(self, workload_id: str) -> NodeWorkload | None:
        found = await self._select(t.node_workloads.c.workload_id == workload_id, t.node_workloads.c.workload_id)
        return found[0] if found else None

    async def _select(self, where: ColumnElement[bool], order: ColumnElement[Any]) -> list[NodeWorkload]:
        async with self._reader.connect() as conn:
            rows = (await conn.execute(select(t.node_workloads).where(where).order_by(order))).all()
        return [
            NodeWorkload(
                workload_id=r.workload_id,
                node_id=r.node_id,
                owner=r.owner,
                runtime=r.runtime,
                snapshot=_snapshot.decode(r.snapshot) if r.snapshot else None,
            )
            for r in rows
        ]


_snapshot = msgspec.json.Decoder(Workload)

BEAT_COLUMNS = ("id", "name", "started_at", "beat_at", "data_dir", "boot_id", "url")
"""A node's row as a beat writes it (``SqlNodes.beat_row``), in every statement that writes one."""
BEAT_UPDATES = tuple(column for column in BEAT_COLUMNS if column not in ("id", "started_at"))
"""What a later beat changes: all but the row's id and its first start."""


def _beat_statement(dialect_name: str) -> Insert:
    upsert: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(t.nodes) if dialect_name == "postgresql" else sqlite.insert(t.nodes)
    )
    new = upsert.excluded
    return upsert.on_conflict_do_update(
        index_elements=[t.nodes.c.id],
        set_={column: new[column] for column in BEAT_UPDATES},
    )
