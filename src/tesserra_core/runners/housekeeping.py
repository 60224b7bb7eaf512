"""Housekeeping: forget what no longer matters, so that tables and memory stay bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import msgspec

from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock


class Swept(msgspec.Struct, frozen=True):
    revocations: int
    idempotency_keys: int
    rate_counters: int
    console_sessions: int = 0


@dataclass(frozen=True, slots=True)
class Housekeeping:
    """Purges revocations older than ``retention`` (which must outlive every cached credential, so
    that no worker can miss one that still matters), expired idempotency records, and the rate
    counters of keys idle for longer than the longest rate window, and idle console sessions."""

    uow: UnitOfWorkFactory
    limiter: RateLimiter
    idempotency: IdempotencyStore
    clock: Clock
    retention: timedelta
    idle_for: float
    console_idle: timedelta = timedelta(hours=12)
    """Console sessions unused this long are forgotten (``CONSOLE_IDLE`` of the console sessions area)."""

    async def __call__(self) -> Swept:
        async with self.uow() as uow:
            revocations = await uow.revocations.purge(self.clock.now() - self.retention)
            consoles = await uow.console_sessions.purge(self.clock.now() - self.console_idle)
            await uow.commit()
        idempotency, counters = await self.idempotency.purge_expired(), await self.limiter.purge(self.idle_for)
        return Swept(revocations, idempotency, counters, consoles)
