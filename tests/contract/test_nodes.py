"""Nodes contract: heartbeats, stale and alive nodes, the workloads each recorded (the last node to
record a workload owns it), dropped and forgotten; on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.nodes import MemoryNodes
from tesserra_adapters.sql.nodes import SqlNodes
from tesserra_core.ports.nodes import Nodes, NodeWorkload
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
