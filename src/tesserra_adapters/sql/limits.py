"""Rate limits and idempotency keys in the database, shared by every worker and host."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tesserra_adapters.sql import schema as t
from tesserra_core.ports.limits import IdempotencyClaim, IdempotencyOutcome, RateDecision, StoredResponse


async def insert_new(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if the row was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(dialect.insert(table).values(values).on_conflict_do_nothing())
    return bool(result.rowcount)


class SqlRateLimiter:
    """An exact sliding log per key. A per-key anchor row is locked first, so concurrent hits
    from many workers serialize on the key and never overshoot the limit."""

    shared = True

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        now = self._clock()
        h = t.rate_limit_hits.c
        async with self._engine.begin() as conn:
            anchor = t.rate_limit_keys
            await insert_new(conn, anchor, {"key": key, "touched_at": now})
            await conn.execute(update(anchor).where(anchor.c.key == key).values(touched_at=now))
            await conn.execute(delete(t.rate_limit_hits).where(h.key == key, h.at <= now - window))
            count, oldest = (await conn.execute(select(func.count(), func.min(h.at)).where(h.key == key))).one()
            if count >= limit:
                return RateDecision(False, limit, 0, max(0.0, oldest + window - now))
            await conn.execute(insert(t.rate_limit_hits).values(key=key, at=now))
            first = oldest if oldest is not None else now
            return RateDecision(True, limit, limit - count - 1, max(0.0, first + window - now))

    async def reset(self, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(t.rate_limit_hits).where(t.rate_limit_hits.c.key == key))

    async def purge(self, idle_for: float) -> int:
        cutoff = self._clock() - idle_for
        async with self._engine.begin() as conn:
            await conn.execute(delete(t.rate_limit_hits).where(t.rate_limit_hits.c.at <= cutoff))
            result = await conn.execute(delete(t.rate_limit_keys).where(t.rate_limit_keys.c.touched_at <= cutoff))
        return int(result.rowcount or 0)


class SqlIdempotencyStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def claim(self, owner: str, key: str, fingerprint: str, ttl: float) -> IdempotencyClaim:
        now = self._clock()
        i = t.idempotency_keys.c
        mine = (i.owner == owner) & (i.key == key)
        fresh = {
            "fingerprint": fingerprint,
            "status": None,
            "body": None,
            "content_type": None,
            "expires_at": now + ttl,
        }
        async with self._engine.begin() as conn:
            if await insert_new(conn, t.idempotency_keys, {"owner": owner, "key": key, **fresh}):
                return IdempotencyClaim(IdempotencyOutcome.STARTED)
            replaced = await conn.execute(update(t.idempotency_keys).where(mine, i.expires_at <= now).values(fresh))
            if replaced.rowcount:
                return IdempotencyClaim(IdempotencyOutcome.STARTED)
            row = (await conn.execute(select(t.idempotency_keys).where(mine))).mappings().first()
        if row is None:  # released between our insert and read: the caller may retry
            return IdempotencyClaim(IdempotencyOutcome.IN_FLIGHT)
        if row["fingerprint"] != fingerprint:
            return IdempotencyClaim(IdempotencyOutcome.MISMATCH)
        if row["status"] is None:
            return IdempotencyClaim(IdempotencyOutcome.IN_FLIGHT)
        response = StoredResponse(int(row["status"]), bytes(row["body"] or b""), row["content_type"] or "")
        return IdempotencyClaim(IdempotencyOutcome.REPLAY, response)

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None:
        i = t.idempotency_keys.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t.idempotency_keys)
                .where(i.owner == owner, i.key == key)
                .values(status=response.status, body=response.body, content_type=response.content_type)
            )

    async def release(self, owner: str, key: str) -> None:
        i = t.idempotency_keys.c
        async with self._engine.begin() as conn:
            await conn.execute(delete(t.idempotency_keys).where(i.owner == owner, i.key == key, i.status.is_(None)))

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(t.idempotency_keys).where(t.idempotency_keys.c.expires_at <= self._clock())
            )
        return int(result.rowcount or 0)
