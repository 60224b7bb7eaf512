"""Fencing (issue 15): the work a lease's holder does commits only while the lease is still that
holder's generation. A holder that stalls past its lease (no renewal: a paused process, a long GC, a
slow disk) and wakes up after another took over cannot commit; on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.leases import MemoryRunnerLeases
from tesserra_adapters.sql.leases import SqlRunnerLeases
from tesserra_core.ports.leases import FENCE, Fence, LeaseLost, NodeBeat, RunnerLease, RunnerLeases
from tesserra_core.ports.persistence import Revocation, UnitOfWorkFactory
from tesserra_core.runners.leased import LeaseTerms, leased_rounds
from tests.contract.conftest import FakeClock
from tests.contract.entities import unique


async def _published(uow_factory: UnitOfWorkFactory, cursor: int) -> set[str]:
    async with uow_factory(read_only=True) as uow:
        revocations, _ = await uow.revocations.since(cursor)
    return {r.subject for r in revocations}


async def _cursor(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory(read_only=True) as uow:
        return await uow.revocations.cursor()


async def _publish(uow_factory: UnitOfWorkFactory, subject: str) -> None:
    async with uow_factory() as uow:
        await uow.revocations.publish(Revocation("fencing-test", subject), datetime.now(UTC))
        await uow.commit()


async def test_a_commit_under_a_taken_over_generation_writes_nothing(
    engine: AsyncEngine | None, uow_factory: UnitOfWorkFactory, clock: FakeClock
) -> None:
    if engine is None:
        pytest.skip("one process: the memory store has no other holder to be fenced from")
    leases = SqlRunnerLeases(engine, clock)
    name = unique("fenced")[:64]
    first = await leases.claim(name, "a", 3.0)
    clock.advance(4.0)  # a stopped renewing; b takes over
    second = await leases.claim(name, "b", 3.0)
    assert first is not None
    assert second == first + 1
    cursor = await _cursor(uow_factory)
    stale = Fence(name, "a", first, deadline=time.monotonic() + 60)  # a's own clock says it still holds it

    token = FENCE.set(stale)
    try:
        with pytest.raises(LeaseLost):
            await _publish(uow_factory, "written-by-a")
    finally:
        FENCE.reset(token)
    assert stale.lost
    token = FENCE.set(Fence(name, "b", second, deadline=time.monotonic() + 60))
    try:
        await _publish(uow_factory, "written-by-b")
    finally:
        FENCE.reset(token)
    assert await _published(uow_factory, cursor) == {"written-by-b"}


class _Stalling:
    """A holder's view of the lease store that hangs (no renewal, no answer) while ``stalled`` is set."""

    carries_beats = False

    def __init__(self, leases: RunnerLeases) -> None:
        self._leases = leases
        self.stalled = False
        self.woken = asyncio.Event()

    async def claim(self, name: str, holder: str, ttl: float) -> int | None:
        if self.stalled:
            await self.woken.wait()
        return await self._leases.claim(name, holder, ttl)

    async def claim_all(
        self,
        holder: str,
        ttl: float,
        names: Sequence[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None = None,
    ) -> dict[str, int]:
        if self.stalled:
            await self.woken.wait()
        return await self._leases.claim_all(holder, ttl, names, ran, beat)

    async def release(self, name: str, holder: str) -> None:
        await self._leases.release(name, holder)

    async def record(self, name: str, holder: str, error: str | None) -> None:
        await self._leases.record(name, holder, error)

    async def all(self) -> list[RunnerLease]:
        return await self._leases.all()


async def test_a_holder_that_stalls_past_its_lease_cannot_commit_after_another_took_over(
    engine: AsyncEngine | None, uow_factory: UnitOfWorkFactory
) -> None:
    leases: RunnerLeases = MemoryRunnerLeases() if engine is None else SqlRunnerLeases(engine)
    name = unique("stall")[:64]
    cursor = await _cursor(uow_factory)
    a_view = _Stalling(leases)
    in_round = asyncio.Event()
    outcome: list[BaseException | None] = []
    b_ran = asyncio.Event()

    rounds = 0

    async def a_round() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1 or outcome:  # the first round runs before the block begins
            return
        a_view.stalled = True  # from here a neither renews nor acts: the round outlives the lease
        in_round.set()
        await a_view.woken.wait()
        try:
            await _publish(uow_factory, "written-by-a")
            outcome.append(None)
        except LeaseLost as exc:
            outcome.append(exc)
            raise

    async def b_round() -> None:
        await _publish(uow_factory, f"written-by-b-{id(b_ran)}")
        b_ran.set()

    a_terms = LeaseTerms(a_view, "a", ttl=0.6, tick=0.05)
    b_terms = LeaseTerms(leases, "b", ttl=0.6, tick=0.05)
    async with leased_rounds(name, a_round, 0.05, a_terms, "a failed"):
        await asyncio.wait_for(in_round.wait(), 10)
        async with leased_rounds(name, b_round, 0.05, b_terms, "b failed"):
            await asyncio.wait_for(b_ran.wait(), 10)  # b took over once a's lease ran out
            a_view.woken.set()  # a wakes up, its round still wanting to commit
            for _ in range(500):
                if outcome:
                    break
                await asyncio.sleep(0.01)
    assert outcome
    assert isinstance(outcome[0], LeaseLost)
    assert await _published(uow_factory, cursor) == {f"written-by-b-{id(b_ran)}"}
