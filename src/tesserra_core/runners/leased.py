"""A background loop that runs once across a cluster: each process claims the loop's lease every
``tick`` seconds; only its holder runs rounds (every ``interval``) and records how the last one went.
A holder that dies stops renewing, so another process holds the lease within ``ttl + tick`` seconds;
one that stops (a drain) lets it go at once.

The holder keeps renewing while a round runs, and the round runs with the lease's ``Fence`` (its
generation, the fencing token, and a local deadline a margin short of the lease's expiry): its units
of work commit only while the lease is still this holder's generation, and its side effects outside
the database check the deadline first (``still_held``), so a round that outlasts its lease (a stalled
process) stops rather than running alongside its successor's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tesserra_core.ports.leases import FENCE, Fence, RunnerLeases, SoleLeases

log = logging.getLogger("tesserra.runners")

MARGIN = 0.2
"""The share of a lease's ttl its holder gives up at the end: it stops acting ``ttl * MARGIN`` seconds
before the lease would expire unrenewed (clock drift between nodes, a slow statement)."""


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    """Where leases live and who this process is (host and pid: unique among live processes)."""

    leases: RunnerLeases = field(default_factory=SoleLeases)
    holder: str = "local"
    ttl: float = 3.0
    tick: float = 1.0


class _Holding:
    """This process's hold on one lease: claimed again and again, with the fence of the generation
    it holds (None while it holds none)."""

    def __init__(self, name: str, terms: LeaseTerms) -> None:
        self.name = name
        self.terms = terms
        self.fence: Fence | None = None

    async def claim(self) -> None:
        asked = time.monotonic()
        try:
            generation = await self.terms.leases.claim(self.name, self.terms.holder, self.terms.ttl)
        except Exception:
            log.exception("runner %s: claiming its lease failed", self.name)
            generation = None
        if self.fence is not None and generation != self.fence.generation:
            self.fence.lost = True  # expired, taken over, or taken again after a loss: that generation is over
            self.fence = None
        if generation is not None:
            deadline = asked + self.terms.ttl * (1 - MARGIN)
            if self.fence is None:
                self.fence = Fence(self.name, self.terms.holder, generation, deadline)
            self.fence.deadline = deadline

    def valid(self) -> Fence | None:
        """The fence, if the lease is held and its local deadline not passed."""
        return self.fence if self.fence is not None and self.fence.valid() else None

    def let_go(self) -> None:
        if self.fence is not None:
            self.fence.lost = True


@asynccontextmanager
async def leased_rounds(
    name: str,
    one_round: Callable[[], Awaitable[object]],
    interval: float,
    terms: LeaseTerms,
    failed: str,
) -> AsyncIterator[None]:
    """``one_round`` now and every ``interval`` seconds while this process holds lease ``name``, for the
    life of the block (when the lease is held at once, the first round runs before the block begins). A
    failing round (or claim) is logged and never fatal. On exit the loop is asked to stop, never
    cancelled mid-round, and the lease is let go."""
    stop = asyncio.Event()
    holding = _Holding(name, terms)

    async def pause(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    rounds_over = asyncio.Event()

    async def renew() -> None:
        """Until the last round has ended (a round in flight when the block ends keeps its lease)."""
        while not rounds_over.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rounds_over.wait(), terms.tick)
            if not rounds_over.is_set():
                await holding.claim()

    async def one(fence: Fence) -> float:
        """A round under ``fence``, its outcome recorded; when the next one is due."""
        error = None
        token = FENCE.set(fence)
        try:
            await one_round()
        except Exception as exc:
            log.exception(failed)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            FENCE.reset(token)
        with contextlib.suppress(Exception):
            await terms.leases.record(name, terms.holder, error)
        return time.monotonic() + interval

    async def run(due: float) -> None:
        while not stop.is_set():
            fence = holding.valid()
            if fence is not None and time.monotonic() >= due:
                due = await one(fence)
            await pause(min(terms.tick, max(0.01, due - time.monotonic())) if holding.fence else terms.tick)

    await holding.claim()
    renewing = asyncio.create_task(renew(), name=f"runner {name} lease")
    task: asyncio.Task[None] | None = None
    try:
        due = time.monotonic()
        if (fence := holding.valid()) is not None:  # held at once: the first round (a start-up reconcile) first
            due = await one(fence)
        task = asyncio.create_task(run(due), name=f"runner {name}")
        yield
    finally:
        stop.set()
        if task is not None:
            await task
        rounds_over.set()
        await renewing
        holding.let_go()
        with contextlib.suppress(Exception):
            await terms.leases.release(name, terms.holder)
