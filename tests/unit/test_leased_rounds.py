"""A leased loop runs in one process at a time (issue 15): rounds run only under the lease, a holder
that stops (a drain) hands it over at once, one that dies is replaced once the lease expires, and each
round's outcome is recorded. Two loops on one lease store stand for two workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from tesserra_adapters.memory.leases import MemoryRunnerLeases
from tesserra_adapters.memory.nodes import MemoryNodes
from tesserra_adapters.system import SystemClock
from tesserra_core.ports.leases import FENCE, NodeBeat
from tesserra_core.runners.leased import LeaseTerms, leased_rounds
from tesserra_core.runners.nodes import NodeHeartbeat


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come about"
        await asyncio.sleep(0.01)


async def test_only_the_holder_runs_rounds_and_a_stopping_holder_hands_over_at_once() -> None:
    leases = MemoryRunnerLeases()
    ran: list[str] = []

    def terms(holder: str) -> LeaseTerms:
        return LeaseTerms(leases, holder, ttl=30.0, tick=0.02)

    async def round_of(holder: str) -> None:
        ran.append(holder)

    async with leased_rounds("job", lambda: round_of("a"), 0.05, terms("a"), "failed"):
        await _until(lambda: len(ran) >= 3)
        async with leased_rounds("job", lambda: round_of("b"), 0.05, terms("b"), "failed"):
            await asyncio.sleep(0.3)
            assert set(ran) == {"a"}  # b never ran while a held the lease (for 30 s)
            before = len(ran)
        # b let go when its block ended; a went on
        await _until(lambda: len(ran) >= before + 2)
    async with leased_rounds("job", lambda: round_of("b"), 0.05, terms("b"), "failed"):
        await _until(lambda: ran[-1] == "b")  # a released it: no 30 s wait


async def test_a_dead_holder_is_replaced_once_its_lease_expires_and_failures_are_recorded() -> None:
    leases = MemoryRunnerLeases()
    assert await leases.claim("job", "dead-worker", 0.3)  # claimed once, never renewed
    rounds = 0

    async def failing() -> None:
        nonlocal rounds
        rounds += 1
        raise ValueError("boom")

    started = time.monotonic()
    async with leased_rounds("job", failing, 0.05, LeaseTerms(leases, "alive", ttl=1.0, tick=0.02), "failed"):
        await _until(lambda: rounds >= 2)
        assert time.monotonic() - started >= 0.25  # not before the dead holder's lease ran out
        (lease,) = await leases.all()
        assert (lease.holder, lease.last_error) == ("alive", "ValueError: boom")
        assert lease.last_run_at is not None
    (lease,) = await leases.all()
    assert lease.holder is None  # let go on exit


async def test_a_round_longer_than_the_lease_keeps_it_and_never_runs_twice_at_once() -> None:
    """The holder renews while its round runs: a round three times the ttl is not joined by another
    process's round (the lease never lapses), and the round's fence stays valid throughout."""
    leases = MemoryRunnerLeases()
    running: list[str] = []
    overlaps: list[list[str]] = []
    fences_valid: list[bool] = []

    def long_round(holder: str) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            running.append(holder)
            if len(running) > 1:
                overlaps.append(list(running))
            await asyncio.sleep(0.9)  # three times the ttl
            fence = FENCE.get()
            fences_valid.append(fence is not None and fence.valid())
            running.remove(holder)

        return one

    def terms(holder: str) -> LeaseTerms:
        return LeaseTerms(leases, holder, ttl=0.3, tick=0.05)

    async with (
        leased_rounds("job", long_round("a"), 0.01, terms("a"), "failed"),
        leased_rounds("job", long_round("b"), 0.01, terms("b"), "failed"),
    ):
        await asyncio.sleep(2.0)
    assert overlaps == []
    assert fences_valid
    assert all(fences_valid)


class _Carrying(MemoryRunnerLeases):
    """Leases whose claims carry the node's beat (as the SQL store's do), recording each beat."""

    carries_beats = True

    def __init__(self) -> None:
        super().__init__()
        self.beats: list[NodeBeat] = []

    async def claim_all(
        self,
        holder: str,
        ttl: float,
        names: Sequence[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None = None,
    ) -> dict[str, int]:
        if beat is not None:
            self.beats.append(beat)
        return await super().claim_all(holder, ttl, names, ran)


async def test_the_heartbeat_rides_on_the_lease_claims_for_as_long_as_it_runs() -> None:
    leases = _Carrying()
    nodes = MemoryNodes()
    terms = LeaseTerms(leases, "a", ttl=30.0, tick=0.02)
    heartbeat = NodeHeartbeat(nodes, SystemClock(), "node-a", "host-a", lease=terms)
    async with heartbeat.running():
        assert [n.id for n in await nodes.alive(0)] == ["node-a"]  # beat once at start, directly
        await _until(lambda: len(leases.beats) >= 2)  # then with each tick's claim, no lease held
        async with leased_rounds("job", lambda: asyncio.sleep(0), 0.05, terms, "failed"):
            seen = len(leases.beats)
            await _until(lambda: len(leases.beats) >= seen + 2)
        seen = len(leases.beats)
        await _until(lambda: len(leases.beats) >= seen + 2)  # the loop ended, the beat goes on
    assert {b.node_id for b in leases.beats} == {"node-a"}
    seen = len(leases.beats)
    await asyncio.sleep(0.1)
    assert len(leases.beats) == seen  # stopped with the heartbeat
    assert terms.renewals._task is None
