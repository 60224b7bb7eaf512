"""A background loop that runs once across a cluster: each process claims the loop's lease every
``tick`` seconds; only its holder runs rounds (every ``interval``) and records how the last one went.
A holder that dies stops renewing, so another process holds the lease within ``ttl + tick`` seconds;
one that stops (a drain) lets it go at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tesserra_core.ports.leases import RunnerLeases, SoleLeases

log = logging.getLogger("tesserra.runners")


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    """Where leases live and who this process is (host and pid: unique among live processes)."""

    leases: RunnerLeases = field(default_factory=SoleLeases)
    holder: str = "local"
    ttl: float = 3.0
    tick: float = 1.0


@asynccontextmanager
async def leased_rounds(
    name: str,
    one_round: Callable[[], Awaitable[object]],
    interval: float,
    terms: LeaseTerms,
    failed: str,
) -> AsyncIterator[None]:
    """``one_round`` now and every ``interval`` seconds while this process holds lease ``name``, for the
    life of the block. A failing round (or claim) is logged and never fatal. On exit the loop is asked
    to stop, never cancelled mid-round, and the lease is let go."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def claim() -> bool:
        try:
            return await terms.leases.claim(name, terms.holder, terms.ttl)
        except Exception:
            log.exception("runner %s: claiming its lease failed", name)
            return False

    async def run() -> None:
        due = loop.time()
        while not stop.is_set():
            if await claim() and loop.time() >= due:
                error = None
                try:
                    await one_round()
                except Exception as exc:
                    log.exception(failed)
                    error = f"{type(exc).__name__}: {exc}"
                due = loop.time() + interval
                with contextlib.suppress(Exception):
                    await terms.leases.record(name, terms.holder, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(terms.tick, interval))

    task = asyncio.create_task(run(), name=f"runner {name}")
    try:
        yield
    finally:
        stop.set()
        await task
        with contextlib.suppress(Exception):
            await terms.leases.release(name, terms.holder)
