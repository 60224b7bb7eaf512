"""RunnerLeases contract: one holder at a time, renewed by its holder, taken over once expired or let
go, exact under concurrent claims; on every adapter (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.leases import MemoryRunnerLeases
from tesserra_adapters.sql.leases import SqlRunnerLeases
from tesserra_adapters.sql.nodes import SqlNodes
from tesserra_core.ports.leases import NodeBeat, RunnerLeases
from tests.contract.conftest import FakeClock
from tests.contract.entities import unique


@pytest.fixture
def leases(engine: AsyncEngine | None, clock: FakeClock) -> RunnerLeases:
    return MemoryRunnerLeases(clock) if engine is None else SqlRunnerLeases(engine, clock)


@pytest.fixture
def name() -> str:
    return unique("runner")[:64]


async def _mine(leases: RunnerLeases, name: str) -> str | None:
    return next((lease.holder for lease in await leases.all() if lease.name == name), None)


async def test_one_holder_at_a_time_until_it_expires(leases: RunnerLeases, name: str, clock: FakeClock) -> None:
    assert await leases.claim(name, "a", 3.0)
    assert not await leases.claim(name, "b", 3.0)
    clock.advance(2.0)
    assert await leases.claim(name, "a", 3.0)  # renewed: valid 3 s from now
    clock.advance(2.0)
    assert not await leases.claim(name, "b", 3.0)
    clock.advance(1.5)  # a stopped renewing 3.5 s ago
    assert await leases.claim(name, "b", 3.0)
    assert not await leases.claim(name, "a", 3.0)
    assert await _mine(leases, name) == "b"


async def test_a_released_lease_is_free_at_once_and_only_its_holder_releases_it(
    leases: RunnerLeases, name: str
) -> None:
    assert await leases.claim(name, "a", 30.0)
    await leases.release(name, "b")  # not b's to give
    assert not await leases.claim(name, "b", 30.0)
    await leases.release(name, "a")
    assert await _mine(leases, name) is None
    assert await leases.claim(name, "b", 30.0)


async def test_only_the_holder_records_its_rounds(leases: RunnerLeases, name: str, clock: FakeClock) -> None:
    assert await leases.claim(name, "a", 30.0)
    await leases.record(name, "b", "b is not the holder")
    (lease,) = [lease for lease in await leases.all() if lease.name == name]
    assert (lease.last_run_at, lease.last_error) == (None, None)
    await leases.record(name, "a", "ValueError: boom")
    clock.advance(1.0)
    await leases.record(name, "a", None)
    (lease,) = [lease for lease in await leases.all() if lease.name == name]
    assert lease.holder == "a"
    assert lease.last_run_at == clock()
    assert lease.last_error is None
    assert lease.expires_at == clock() - 1.0 + 30.0


async def test_of_many_concurrent_claimants_exactly_one_wins(leases: RunnerLeases, name: str) -> None:
    won = [g is not None for g in await asyncio.gather(*(leases.claim(name, f"holder-{i}", 30.0) for i in range(12)))]
    assert won.count(True) == 1
    assert await _mine(leases, name) == f"holder-{won.index(True)}"


async def test_each_takeover_increments_the_generation_and_a_renewal_keeps_it(
    leases: RunnerLeases, name: str, clock: FakeClock
) -> None:
    assert await leases.claim(name, "a", 3.0) == 1
    assert await leases.claim(name, "a", 3.0) == 1  # renewed
    assert await leases.claim(name, "b", 3.0) is None
    clock.advance(3.5)
    assert await leases.claim(name, "b", 3.0) == 2  # taken over once a's lease expired
    assert await leases.claim(name, "a", 3.0) is None
    await leases.release(name, "b")
    assert await leases.claim(name, "b", 3.0) == 3  # taken again after letting go: a new generation
    (lease,) = [lease for lease in await leases.all() if lease.name == name]
    assert (lease.holder, lease.generation) == ("b", 3)


async def test_claim_all_claims_each_lease_as_claim_would_and_records_the_rounds_that_ended(
    leases: RunnerLeases, clock: FakeClock
) -> None:
    """One statement a tick for every leased loop of a process: each lease taken, renewed or left to its
    holder exactly as ``claim`` would; the outcome of a round recorded only where the claimant holds it."""
    free, theirs, mine = (unique(f"runner-{n}")[:64] for n in ("free", "theirs", "mine"))
    assert await leases.claim(theirs, "b", 3.0) == 1
    assert await leases.claim(mine, "a", 3.0) == 1
    held = await leases.claim_all("a", 3.0, [free, theirs, mine], {mine: None, theirs: "not a's round"})
    assert held == {free: 1, mine: 1}  # taken (a new row), left to b, renewed (the same generation)
    by_name = {lease.name: lease for lease in await leases.all()}
    assert (by_name[mine].last_run_at, by_name[mine].last_error) == (clock(), None)
    assert (by_name[theirs].holder, by_name[theirs].last_run_at, by_name[theirs].last_error) == ("b", None, None)
    assert by_name[free].last_run_at is None
    clock.advance(2.0)
    assert await leases.claim_all("a", 3.0, [free, mine], {free: "ValueError: boom"}) == {free: 1, mine: 1}
    by_name = {lease.name: lease for lease in await leases.all()}
    assert (by_name[free].last_run_at, by_name[free].last_error) == (clock(), "ValueError: boom")
    assert by_name[mine].last_run_at == clock() - 2.0  # no round ended: its record kept
    assert by_name[mine].expires_at == clock() + 3.0
    # b stopped renewing 5.5 s ago: a takes its lease over (a new generation); its own, expired, it renews
    clock.advance(3.5)
    assert await leases.claim_all("a", 3.0, [free, theirs, mine], {}) == {free: 1, theirs: 2, mine: 1}
    assert not await leases.claim_all("b", 3.0, [free, theirs, mine], {})


async def test_of_concurrent_claim_alls_one_wins_each_lease(leases: RunnerLeases) -> None:
    names = [unique(f"runner-{n}")[:64] for n in range(4)]
    held = await asyncio.gather(*(leases.claim_all(f"holder-{i}", 30.0, names, {}) for i in range(6)))
    for name in names:
        assert sum(name in mine for mine in held) == 1


async def test_a_claim_carries_the_nodes_heartbeat_in_its_transaction(
    engine: AsyncEngine | None, clock: FakeClock, name: str
) -> None:
    if engine is None:
        pytest.skip("the memory leases keep no nodes")
    nodes = SqlNodes(engine, clock)
    leases = SqlRunnerLeases(engine, clock, nodes=nodes)
    assert leases.carries_beats
    assert not SqlRunnerLeases(engine, clock).carries_beats
    node = unique("node")[:64]
    started = clock()
    assert await leases.claim_all("a", 3.0, [name], {}, NodeBeat(node, "host-a", started)) == {name: 1}
    [seen] = [n for n in await nodes.alive(clock()) if n.id == node]  # the row made on the first beat
    assert (seen.name, seen.started_at, seen.beat_at) == ("host-a", started, clock())
    clock.advance(2.0)
    assert await leases.claim_all("a", 3.0, [], {}, NodeBeat(node, "host-a", clock())) == {}  # the beat alone
    [seen] = [n for n in await nodes.alive(clock()) if n.id == node]
    assert (seen.started_at, seen.beat_at) == (started, clock())  # beat again, started_at kept
    await nodes.forget(node)  # reaped meanwhile: the next beat makes it anew
    assert await leases.claim_all("b", 3.0, [name], {}, NodeBeat(node, "host-a", started)) == {}
    assert node in {n.id for n in await nodes.alive(clock())}
