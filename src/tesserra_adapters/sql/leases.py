"""Runner leases as rows, shared by every worker and node on the database (SQLite or PostgreSQL).
Times are epoch seconds from each process's clock: nodes keep their clocks in step (NTP) to well
within a lease's ttl."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.limits import insert_new
from tesserra_core.ports.leases import RunnerLease

_MAX_ERROR = 500


class SqlRunnerLeases:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def claim(self, name: str, holder: str, ttl: float) -> bool:
        now = self._clock()
        lease = t.runner_leases.c
        async with self._engine.begin() as conn:
            taken = await conn.execute(
                update(t.runner_leases)
                .where(
                    lease.name == name, (lease.holder == holder) | lease.holder.is_(None) | (lease.expires_at <= now)
                )
                .values(holder=holder, expires_at=now + ttl)
            )
            if taken.rowcount:
                return True
            return await insert_new(conn, t.runner_leases, {"name": name, "holder": holder, "expires_at": now + ttl})

    async def release(self, name: str, holder: str) -> None:
        lease = t.runner_leases.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t.runner_leases)
                .where(lease.name == name, lease.holder == holder)
                .values(holder=None, expires_at=self._clock())
            )

    async def record(self, name: str, holder: str, error: str | None) -> None:
        lease = t.runner_leases.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t.runner_leases)
                .where(lease.name == name, lease.holder == holder)
                .values(last_run_at=self._clock(), last_error=None if error is None else error[:_MAX_ERROR])
            )

    async def all(self) -> list[RunnerLease]:
        lease = t.runner_leases.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.runner_leases).order_by(lease.name))).all()
        return [
            RunnerLease(
                name=r.name,
                holder=r.holder,
                expires_at=r.expires_at,
                last_run_at=r.last_run_at,
                last_error=r.last_error,
            )
            for r in rows
        ]
