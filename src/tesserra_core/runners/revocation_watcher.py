"""The revocation watcher: each worker's background loop that keeps its caches honest.

It polls the durable revocation feed and drops the cached credentials and views it names (so a
revocation takes effect everywhere within one poll), writes key usage behind, and purges the
process's own rate counters (housekeeping's share of each process; the shared part runs once across
the cluster, under its lease).

Where the store pushes (``FeedPush``: PostgreSQL's NOTIFY at the publisher's commit), the watcher polls
when told and otherwise every ``pushed_interval`` only; while the push is down (not yet connected, or
its connection lost) it polls every ``interval``, as without one. An idle worker then makes one
statement every few seconds instead of two a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from tesserra_core.ports.feed_push import FeedPush, NoPush
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.caching import CacheSet
from tesserra_core.usecases.credentials import KeyUsage

log = logging.getLogger("tesserra.credentials")


@dataclass
class RevocationWatcher:
    """A worker's background loop: polls the revocation feed into its caches (every ``interval``; when
    ``push`` is live, on each push and every ``pushed_interval``), writes key usage behind (every
    ``usage_every``) and runs ``housekeeping`` (every ``housekeeping_every``: this process's own share
    of it)."""

    uow: UnitOfWorkFactory
    caches: CacheSet
    usage: KeyUsage
    clock: Clock
    housekeeping: Callable[[], Awaitable[object]] | None = None
    interval: float = 0.5
    usage_every: float = 5.0
    housekeeping_every: float = 600.0
    push: FeedPush = field(default_factory=NoPush)
    pushed_interval: float = 2.5
    _cursor: int | None = None

    async def poll(self) -> None:
        async with self.uow(read_only=True) as uow:
            if self._cursor is None:
                self._cursor = await uow.revocations.cursor()
                return
            revocations, self._cursor = await uow.revocations.since(self._cursor)
        self.caches.evict(f"{r.kind}:{r.subject}" for r in revocations)

    async def flush_usage(self) -> None:
        pending = self.usage.drain()
        if not pending:
            return
        mono, wall = self.clock.monotonic(), self.clock.now()
        used = {key_id: wall - timedelta(seconds=mono - at) for key_id, at in pending.items()}
        async with self.uow() as uow:
            await uow.api_keys.touch(used)
            await uow.commit()

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Poll in the background for the life of the block. On exit the loop is asked to stop
        (never cancelled mid-query, which would strand a pooled connection), then usage is flushed."""
        stop = False
        wake = asyncio.Event()
        one_round = self._round()

        async def loop() -> None:
            while not stop:
                wake.clear()  # a push from here on wakes the next wait: nothing published is missed
                try:
                    await one_round()
                except Exception:
                    log.exception("background round failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.pushed_interval if self.push.live else self.interval)

        try:
            async with self.push.watching(wake):
                task = asyncio.create_task(loop(), name="revocation watcher")
                try:
                    yield
                finally:
                    stop = True
                    wake.set()
                    await task
        finally:
            await self.flush_usage()

    def _round(self) -> Callable[[], Awaitable[None]]:
        """A poll, then each chore whose time has come."""
        chores: list[tuple[float, Callable[[], Awaitable[object]]]] = [(self.usage_every, self.flush_usage)]
        if self.housekeeping is not None:
            chores.append((self.housekeeping_every, self.housekeeping))
        last = dict.fromkeys(range(len(chores)), self.clock.monotonic())

        async def one_round() -> None:
            await self.poll()
            for i, (every, chore) in enumerate(chores):
                if self.clock.monotonic() - last[i] >= every:
                    last[i] = self.clock.monotonic()
                    await chore()

        return one_round
