"""RunnerLeases contract: one holder at a time, renewed by its holder, taken over once expired or let
go, exact under concurrent claims; on every adapter (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.leases import MemoryRunnerLeases
from tesserra_adapters.sql.leases import SqlRunnerLeases
from tesserra_core.ports.leases import RunnerLeases
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
