"""Nodes contract: heartbeats, stale and alive nodes, the workloads each recorded (the last node to
record a workload owns it), dropped and forgotten; on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.nodes import MemoryNodes
from tesserra_adapters.sql.nodes import SqlNodes
from tesserra_core.ports.nodes import Nodes, NodeWorkload
from tesserra_core.ports.runtime import Workload, WorkloadState
from tests.contract.conftest import FakeClock
from tests.contract.entities import unique


@pytest.fixture
def nodes(engine: AsyncEngine | None, clock: FakeClock) -> Nodes:
    return MemoryNodes(clock) if engine is None else SqlNodes(engine, clock)


def _workload(workload_id: str, node_id: str, owner: str = "sandbox:x") -> NodeWorkload:
    return NodeWorkload(workload_id=workload_id, node_id=node_id, owner=owner, runtime="docker")


async def test_a_node_beats_goes_stale_and_is_forgotten(nodes: Nodes, clock: FakeClock) -> None:
    a, b = unique("node-a")[:64], unique("node-b")[:64]
    started = clock()
    await nodes.beat(a, "host-a", started)
    await nodes.beat(b, "host-b", started)
    clock.advance(5.0)
    await nodes.beat(b, "host-b", started)
    ours = {a, b}
    assert {n.id for n in await nodes.stale(clock() - 2.0)} & ours == {a}
    assert {n.id for n in await nodes.alive(clock() - 2.0)} & ours == {b}
    [seen] = [n for n in await nodes.alive(clock() - 2.0) if n.id == b]
    assert (seen.name, seen.started_at, seen.beat_at) == ("host-b", started, clock())
    await nodes.forget(a)
    assert {n.id for n in await nodes.stale(clock() + 1)} & ours == {b}
    await nodes.beat(a, "host-a", clock())  # back: made anew
    assert {n.id for n in await nodes.alive(clock())} & ours == {a, b}


async def test_workloads_are_recorded_per_node_the_last_recorder_owning_each(nodes: Nodes) -> None:
    a, b = unique("node-a")[:64], unique("node-b")[:64]
    one, two = unique("w1"), unique("w2")
    await nodes.record(_workload(one, a))
    await nodes.record(_workload(two, a, owner="resource:r"))
    assert {w.workload_id for w in await nodes.workloads_of(a)} == {one, two}
    await nodes.record(_workload(one, b))  # started again by b
    assert [w.workload_id for w in await nodes.workloads_of(a)] == [two]
    assert await nodes.workloads_of(b) == [_workload(one, b)]
    await nodes.drop(two)
    await nodes.drop(two)  # dropping twice is no error
    assert await nodes.workloads_of(a) == []


async def test_a_recorded_snapshot_reads_back_by_tenant_and_by_id(nodes: Nodes) -> None:
    tenant, other = unique("tenant")[:64], unique("tenant")[:64]
    first, second, foreign = unique("w1")[:64], unique("w2")[:64], unique("w3")[:64]
    snapshot = Workload(
        id=second,
        owner="installation:i1",
        tenant_id=tenant,
        runtime="docker",
        state=WorkloadState.RUNNING,
        image="busybox",
        ports={8080: 32768},
        address="172.18.0.5",
        started_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )
    await nodes.record(_workload(first, "node-a"))  # no snapshot: not listed by tenant
    await nodes.record(msgspec.structs.replace(_workload(second, "node-a"), snapshot=snapshot))
    exited = msgspec.structs.replace(snapshot, state=WorkloadState.EXITED, ports={})
    await nodes.record(msgspec.structs.replace(_workload(second, "node-b"), snapshot=exited))
    stranger = msgspec.structs.replace(snapshot, id=foreign, tenant_id=other)
    await nodes.record(msgspec.structs.replace(_workload(foreign, "node-a"), snapshot=stranger))
    [mine] = await nodes.workloads_of_tenant(tenant)
    assert (mine.workload_id, mine.node_id, mine.snapshot) == (second, "node-b", exited)  # the last record wins
    assert await nodes.workload(second) == mine
    found = await nodes.workload(first)
    assert found is not None
    assert found.snapshot is None
    assert await nodes.workload(unique("none")[:64]) is None
    await nodes.drop(second)
    assert await nodes.workloads_of_tenant(tenant) == []


async def test_a_node_keeps_its_place_with_each_beat(engine: AsyncEngine | None, clock: FakeClock) -> None:
    """Where it keeps its data, its machine's boot and the address other nodes reach it at (the
    runtime proxy's node hop); a node told none advertises none."""
    place = {"data_dir": "/srv/tesserra", "boot_id": "boot-1", "url": "http://10.0.0.5:7500"}
    placed: Nodes = MemoryNodes(clock, **place) if engine is None else SqlNodes(engine, clock, **place)
    bare: Nodes = MemoryNodes(clock) if engine is None else SqlNodes(engine, clock)
    a, b = unique("node-a")[:64], unique("node-b")[:64]
    await placed.beat(a, "host-a", clock())
    await bare.beat(b, "host-b", clock())
    seen = {n.id: n for n in await placed.alive(clock() - 1.0) if n.id in (a, b)}
    assert (seen[a].data_dir, seen[a].boot_id, seen[a].url) == ("/srv/tesserra", "boot-1", "http://10.0.0.5:7500")
    if engine is not None:  # one table: the other node's row is seen too
        assert (seen[b].data_dir, seen[b].boot_id, seen[b].url) == (None, None, None)
