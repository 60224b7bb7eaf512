"""Rate limits and idempotency: request-level guards, stored behind ports."""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec


class RateDecision(msgspec.Struct, frozen=True):
    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    """Seconds until the window frees a slot (the ``Retry-After`` when refused)."""


class RateLimiter(Protocol):
    shared: bool
    """Its counters are shared by every process (a database, Redis): purged once across the cluster by
    housekeeping's lease holder; otherwise (in process) each process purges its own."""

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        """Count one event for ``key`` in a sliding ``window`` of seconds, unless it is full. Atomic:
        however many callers (tasks, workers, hosts sharing the store) hit one key at once, at most
        ``limit`` are allowed, so a hit can reserve the right to do something before doing it."""
        ...

    async def reset(self, key: str) -> None:
        """Forget every event counted for ``key`` (a successful login clears its failures)."""
        ...

    async def purge(self, idle_for: float) -> int:
        """Forget the counters of keys with no event in the last ``idle_for`` seconds. Returns how many."""
        ...


class StoredResponse(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    content_type: str


class IdempotencyOutcome(enum.Enum):
    STARTED = "started"
    """First use: go ahead, then ``complete`` (or ``release`` on failure)."""
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in_flight"


class IdempotencyClaim(msgspec.Struct, frozen=True):
    outcome: IdempotencyOutcome
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    async def claim(self, owner: str, key: str, fingerprint: str, ttl: float) -> IdempotencyClaim:
        """Atomically claim ``key`` for ``owner``; expired records are replaced."""
        ...

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None: ...

    async def release(self, owner: str, key: str) -> None:
        """Forget an in-flight claim whose request failed, so that a retry can run."""
        ...

    async def purge_expired(self) -> int:
        """Forget records past their time to live. Returns how many."""
        ...
