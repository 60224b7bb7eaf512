"""The tenant list (d): 100,000 extra tenants with time-ordered ULIDs, loaded straight into the
migrated table, and the statements ``SqlTenants.list`` really issues for a page of them."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import request, require, say

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
LIST_PATH = "/api/admin/tenants?limite=50&offset={}"


def ulid(ms: int, rnd: int) -> str:
    value = ms << 80 | rnd
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


@dataclass
class TenantRows:
    rows: list[tuple[str, str, str, str, str, datetime, datetime]]

    @classmethod
    def make(cls, count: int) -> TenantRows:
        """``count`` tenants, one per millisecond over the past, so ids (ULIDs) sort by creation."""
        rng = random.Random(20240601)  # ids need shape and order here, not secrecy
        base_ms = int(time.time() * 1000) - 30 * 86_400_000
        rows = []
        for i in range(count):
            ms = base_ms + i
            at = datetime.fromtimestamp(ms / 1000, UTC)
            rows.append(
                (ulid(ms, rng.getrandbits(80)), f"Bench Tenant {i}", f"bench-{i:06d}", "active", "free", at, at)
            )
        ids = [r[0] for r in rows]
        require(ids == sorted(ids), "ids are not time-ordered")
        require(len(set(ids)) == count and all(len(i) == 26 for i in ids), "ids are not 26 unique characters")
        return cls(rows)


async def seed_postgres(dsn: str, data: TenantRows) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "tenants",
            records=data.rows,
            columns=["id", "name", "slug", "status", "plan", "created_at", "updated_at"],
        )
        await conn.execute("VACUUM ANALYZE tenants")  # what autovacuum would do soon after a bulk load
    finally:
        await conn.close()


def seed_sqlite(path: Path, data: TenantRows) -> None:
    fmt = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite (naive UTC)
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO tenants (id, name, slug, status, plan, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                [(*r[:5], r[5].strftime(fmt), r[6].strftime(fmt)) for r in data.rows],
            )
        conn.execute("ANALYZE")
    finally:
        conn.close()


def seed_tenants(port: int, bearer: dict[str, str], data: TenantRows, seed: Callable[[], None]) -> None:
    """Seeds the tenants into the table the server migrated, then checks the API's total."""
    t0 = time.perf_counter()
    seed()
    status, body = request(port, "GET", LIST_PATH.format(0), headers=bearer)
    total = json.loads(body)["total"] if status == 200 else None
    require(total == len(data.rows) + 1, str((status, body[:300])))
    say(f"  seeded {len(data.rows):,} tenants in {time.perf_counter() - t0:.1f} s (API total: {total:,})")


async def capture_list_sql(url: str, deep_offset: int) -> list[tuple[str, Any]]:
    """The statements SqlTenants.list really issues (read off SQLAlchemy, not retyped)."""
    from sqlalchemy import event

    from tesserra_adapters.sql.engine import open_engine
    from tesserra_adapters.sql.identity import SqlTenants
    from tesserra_core.domain.paging import PageRequest

    engine = open_engine(url)
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.connect() as conn:
            await SqlTenants(conn).list(PageRequest(50, deep_offset))
    finally:
        await engine.dispose()
    return seen
