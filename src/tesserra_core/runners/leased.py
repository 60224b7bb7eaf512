"""A background loop that runs once across a cluster: each process claims the loop's lease every
``tick`` seconds; only its holder runs rounds (every ``interval``) and records how the last one went.
A holder that dies stops renewing, so another process holds the lease within ``ttl + tick`` seconds;
one that stops (a drain) lets it go at once.

The claims of every leased loop of a process (one ``LeaseTerms``) go to the lease store together, one
statement a tick (``RunnerLeases.claim_all``), with the node's heartbeat where the store keeps both
(``carries_beats``: one transaction a tick for the process's background bookkeeping), and carry the
outcome of the rounds that ended since
(a round's ``last_run_at`` is recorded with the next claim, within a tick; a change of outcome, such
as a new error, is recorded at once). A loop that does not hold its lease sleeps until a claim wins
it, and the holder sleeps until its next round is due: no wake-up when nothing is due.

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

from tesserra_core.ports.leases import FENCE, Fence, NodeBeat, RunnerLeases, SoleLeases

log = logging.getLogger("tesserra.runners")

MARGIN = 0.2
"""The share of a lease's ttl its holder gives up at the end: it stops acting ``ttl * MARGIN`` seconds
before the lease would expire unrenewed (clock drift between nodes, a slow statement)."""


class _Holding:
    """This process's hold on one lease: claimed again and again, with the fence of the generation
    it holds (None while it holds none), and the outcome of its last round not yet recorded."""

    def __init__(self, name: str, terms: LeaseTerms) -> None:
        self.name = name
        self.terms = terms
        self.fence: Fence | None = None
        self.changed = asyncio.Event()
        """Set when a claim wins the lease (and on stop): what a loop without the lease waits for."""
        self.ran: tuple[str | None] | None = None
        """(its error or None) of a round that ended since the last claim; None if none did."""
        self.recorded: tuple[str | None] | None = None
        """(its error or None) of the last round recorded; None before any was."""

    def settle(self, generation: int | None, asked: float) -> None:
        """What the claim asked at ``asked`` (monotonic) answered: held with this generation, or not."""
        if self.fence is not None and generation != self.fence.generation:
            self.fence.lost = True  # expired, taken over, or taken again after a loss: that generation is over
            self.fence = None
        if generation is not None:
            deadline = asked + self.terms.ttl * (1 - MARGIN)
            if self.fence is None:
                self.fence = Fence(self.name, self.terms.holder, generation, deadline)
                self.changed.set()
            self.fence.deadline = deadline

    async def claim(self) -> None:
        await _claim_together([self], self.terms)  # the heartbeat rides on the ticks' claims only

    def valid(self) -> Fence | None:
        """The fence, if the lease is held and its local deadline not passed."""
        return self.fence if self.fence is not None and self.fence.valid() else None

    def let_go(self) -> None:
        if self.fence is not None:
            self.fence.lost = True


async def _claim_together(holdings: list[_Holding], terms: LeaseTerms, beat: NodeBeat | None = None) -> None:
    """One claim of every holding's lease, carrying the rounds that ended since the last one (and the
    node's ``beat``, when the process's heartbeat rides on its claims)."""
    asked = time.monotonic()
    ran = {h.name: h.ran for h in holdings if h.ran is not None}
    names = sorted(h.name for h in holdings)
    errors = {name: error for name, (error,) in ran.items()}
    try:
        if beat is None:
            held = await terms.leases.claim_all(terms.holder, terms.ttl, names, errors)
        else:
            held = await terms.leases.claim_all(terms.holder, terms.ttl, names, errors, beat)
    except Exception:
        log.exception("runners %s: claiming their leases failed", ", ".join(names) or "(the node heartbeat)")
        held = {}
    for holding in holdings:
        if holding.name in ran and holding.ran is ran[holding.name]:  # no round ended meanwhile
            holding.recorded, holding.ran = holding.ran, None
        holding.settle(held.get(holding.name), asked)


@dataclass(eq=False)
class _Renewals:
    """The one loop of a process that claims the leases of all its leased loops, every tick, and
    carries the node's heartbeat (``beat``) while one is given (``carry``)."""

    holdings: list[_Holding] = field(default_factory=list)
    beat: NodeBeat | None = None
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    def add(self, holding: _Holding) -> None:
        self.holdings.append(holding)
        self._start(holding.terms)

    async def remove(self, holding: _Holding) -> None:
        self.holdings.remove(holding)
        await self._stop_if_idle()

    def carry(self, beat: NodeBeat, terms: LeaseTerms) -> None:
        """From now on each tick's claim carries ``beat`` (also while no leased loop runs)."""
        self.beat = beat
        self._start(terms)

    async def drop(self) -> None:
        """The claims carry the beat no more."""
        self.beat = None
        await self._stop_if_idle()

    def _start(self, terms: LeaseTerms) -> None:
        if self._task is None:
            self._stop = stop = asyncio.Event()
            self._task = asyncio.create_task(self._run(terms, stop), name="runner leases")

    async def _stop_if_idle(self) -> None:
        if not self.holdings and self.beat is None and self._task is not None:
            assert self._stop is not None
            task, self._task = self._task, None
            self._stop.set()
            await task

    async def _run(self, terms: LeaseTerms, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), terms.tick)
            if not stop.is_set() and (self.holdings or self.beat is not None):
                await _claim_together(list(self.holdings), terms, self.beat)


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    """Where leases live and who this process is (host and pid: unique among live processes). The
    leased loops sharing one ``LeaseTerms`` renew their leases together, in one claim a tick."""

    leases: RunnerLeases = field(default_factory=SoleLeases)
    holder: str = "local"
    ttl: float = 3.0
    tick: float = 1.0
    renewals: _Renewals = field(default_factory=_Renewals, compare=False, repr=False)


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
    stopping = False
    holding = _Holding(name, terms)

    async def pause(seconds: float | None) -> None:
        """Until ``seconds`` have passed (None: no limit), the lease is won, or the loop stops."""
        holding.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(holding.changed.wait(), seconds)

    async def one(fence: Fence) -> float:
        """A round under ``fence``, its outcome kept for the next claim (recorded at once if it changed);
        when the next one is due."""
        error = None
        token = FENCE.set(fence)
        try:
            await one_round()
        except Exception as exc:
            log.exception(failed)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            FENCE.reset(token)
        if holding.recorded != (error,):
            with contextlib.suppress(Exception):
                await terms.leases.record(name, terms.holder, error)
            holding.recorded, holding.ran = (error,), None
        else:
            holding.ran = (error,)
        return time.monotonic() + interval

    async def run(due: float) -> None:
        while not stopping:
            fence = holding.valid()
            if fence is not None and time.monotonic() >= due:
                due = await one(fence)
                continue
            if holding.fence is None:  # not held: until a claim wins it
                await pause(None)
            elif fence is None:  # held, but not renewed in time (a stalled claim): see again in a tick
                await pause(terms.tick)
            else:  # held: until the next round is due
                await pause(max(0.01, due - time.monotonic()))

    await holding.claim()
    terms.renewals.add(holding)
    task: asyncio.Task[None] | None = None
    try:
        due = time.monotonic()
        if (fence := holding.valid()) is not None:  # held at once: the first round (a start-up reconcile) first
            due = await one(fence)
        task = asyncio.create_task(run(due), name=f"runner {name}")
        yield
    finally:
        stopping = True
        holding.changed.set()
        if task is not None:
            await task
        await terms.renewals.remove(holding)  # renewed until the last round has ended
        holding.let_go()
        with contextlib.suppress(Exception):
            if holding.ran is not None:  # the last round's outcome, before the lease is let go
                await terms.leases.record(name, terms.holder, holding.ran[0])
            await terms.leases.release(name, terms.holder)
