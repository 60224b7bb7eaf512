"""A sliding-log rate limiter in Redis: one sorted set per key, updated atomically by a Lua script."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tesserra_core.errors import Unavailable
from tesserra_core.ports.limits import RateDecision

# KEYS[1] the log; ARGV: now, window, limit, a unique member. Drops what left the window, then
# counts; adds the hit only if there is room. Answers {allowed, count, oldest score}.
_HIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
if count >= limit then
  return {0, count, oldest}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return {1, count + 1, oldest or ARGV[1]}
"""

PREFIX = "tesserra:rate:"


class RedisRateLimiter:
    """Exactly ``limit`` events in any ``window``, for every process that shares the Redis server.
    A key's log expires with its window, so idle keys cost nothing."""

    shared = True

    def __init__(self, client: Redis, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock
        self._hit: Any = client.register_script(_HIT)
        self._members = itertools.count()
        self._node = os.urandom(4).hex()

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        now = self._clock()
        member = f"{now!r}:{self._node}:{next(self._members)}"
        try:
            allowed, count, oldest = await self._hit(keys=[PREFIX + key], args=[repr(now), window, limit, member])
        except (RedisError, OSError) as exc:
            raise Unavailable("the rate-limit store is unavailable", code="rate_limits_unavailable") from exc
        reset = max(0.0, float(oldest) + window - now)
        if not allowed:
            return RateDecision(False, limit, 0, reset)
        return RateDecision(True, limit, limit - int(count), reset)

    async def reset(self, key: str) -> None:
        try:
            await self._client.delete(PREFIX + key)
        except (RedisError, OSError) as exc:
            raise Unavailable("the rate-limit store is unavailable", code="rate_limits_unavailable") from exc

    async def purge(self, idle_for: float) -> int:
        """Forget logs whose newest hit is older than ``idle_for`` (expiry drops them later anyway)."""
        cutoff = self._clock() - idle_for
        purged = 0
        try:
            async for name in self._client.scan_iter(match=PREFIX + "*", count=500):
                newest = await self._client.zrange(name, -1, -1, withscores=True)
                if not newest or float(newest[0][1]) <= cutoff:
                    purged += await self._client.delete(name)
        except (RedisError, OSError) as exc:
            raise Unavailable("the rate-limit store is unavailable", code="rate_limits_unavailable") from exc
        return purged
