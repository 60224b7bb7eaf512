"""Housekeeping: forget what no longer matters, so that tables and memory stay bounded. What is shared
(the database's tables, a shared rate limiter, uploads left unfinished) is swept once across the
cluster, by the holder of lease ``housekeeping``; a process's own rate counters (an in-process limiter)
by each process (``purge_local``, which the revocation watcher runs)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta

import msgspec

from tesserra_core.ports.files import FileStorage
from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.runners.leased import LeaseTerms, leased_rounds

LEASE = "housekeeping"
ABANDONED_UPLOAD = 86400.0
"""Seconds after which an upload nobody finished (its process died) is dropped."""


class Swept(msgspec.Struct, frozen=True):
    revocations: int
    idempotency_keys: int
    rate_counters: int
    console_sessions: int = 0
    abandoned_uploads: int = 0


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
    """Console sessions unused this long are forgotten (the facade passes ``CONSOLE_IDLE``)."""
    anonymous_idle: timedelta = timedelta(hours=1)
    """Anonymous console sessions unused this long are forgotten (the facade passes ``ANONYMOUS_IDLE``)."""
    files: FileStorage | None = None
    """Where project files live: what uploads left unfinished for ``ABANDONED_UPLOAD`` is dropped."""
    interval: float = 600.0
    lease: LeaseTerms = field(default_factory=LeaseTerms)

    async def __call__(self) -> Swept:
        async with self.uow() as uow:
            revocations = await uow.revocations.purge(self.clock.now() - self.retention)
            now = self.clock.now()
            consoles = await uow.console_sessions.purge(now - self.console_idle, now - self.anonymous_idle)
            await uow.commit()
        counters = await self.limiter.purge(self.idle_for) if self.limiter.shared else 0
        uploads = await self.files.purge_abandoned(ABANDONED_UPLOAD) if self.files is not None else 0
        return Swept(revocations, await self.idempotency.purge_expired(), counters, consoles, uploads)

    async def purge_local(self) -> int:
        """This process's own rate counters (an in-process limiter; nothing otherwise)."""
        return 0 if self.limiter.shared else await self.limiter.purge(self.idle_for)

    def running(self) -> AbstractAsyncContextManager[None]:
        return leased_rounds(LEASE, self, self.interval, self.lease, "housekeeping round failed")
