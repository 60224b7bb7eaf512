"""In-process rate limiter (exact sliding window) and idempotency store."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import msgspec

from tesserra_core.ports.limits import IdempotencyClaim, IdempotencyOutcome, RateDecision, StoredResponse


class MemoryRateLimiter:
    """A sliding log per key: exactly ``limit`` events in any ``window``. One process only."""

    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 200_000) -> None:
        self._clock = clock
        self._logs: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        now = self._clock()
        log = self._logs.get(key)
        if log is None:
            if len(self._logs) >= self._max_keys:
                self._sweep(now, window)
            log = self._logs[key] = deque()
        cutoff = now - window
        while log and log[0] <= cutoff:
            log.popleft()
        if len(log) >= limit:
            return RateDecision(False, limit, 0, max(0.0, log[0] + window - now))
        log.append(now)
        reset = log[0] + window - now
        return RateDecision(True, limit, limit - len(log), max(0.0, reset))

    async def reset(self, key: str) -> None:
        self._logs.pop(key, None)

    async def purge(self, idle_for: float) -> int:
        now = self._clock()
        idle = [k for k, log in self._logs.items() if not log or log[-1] <= now - idle_for]
        for k in idle:
            del self._logs[k]
        return len(idle)

    def _sweep(self, now: float, window: float) -> None:
        stale = [k for k, log in self._logs.items() if not log or log[-1] <= now - window]
        for k in stale:
            del self._logs[k]
        while len(self._logs) >= self._max_keys:
            del self._logs[next(iter(self._logs))]


class _Record(msgspec.Struct):
    fingerprint: str
    expires: float
    response: StoredResponse | None = None


class MemoryIdempotencyStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[tuple[str, str], _Record] = {}

    async def claim(self, owner: str, key: str, fingerprint: str, ttl: float) -> IdempotencyClaim:
        now = self._clock()
        record = self._records.get((owner, key))
        if record is None or record.expires <= now:
            self._records[(owner, key)] = _Record(fingerprint, now + ttl)
            return IdempotencyClaim(IdempotencyOutcome.STARTED)
        if record.fingerprint != fingerprint:
            return IdempotencyClaim(IdempotencyOutcome.MISMATCH)
        if record.response is None:
            return IdempotencyClaim(IdempotencyOutcome.IN_FLIGHT)
        return IdempotencyClaim(IdempotencyOutcome.REPLAY, record.response)

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None:
        record = self._records.get((owner, key))
        if record is not None:
            record.response = response

    async def release(self, owner: str, key: str) -> None:
        record = self._records.get((owner, key))
        if record is not None and record.response is None:
            del self._records[(owner, key)]

    async def purge_expired(self) -> int:
        now = self._clock()
        expired = [k for k, record in self._records.items() if record.expires <= now]
        for k in expired:
            del self._records[k]
        return len(expired)
