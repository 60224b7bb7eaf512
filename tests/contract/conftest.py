"""Every port suite runs on each of its adapters: in memory, SQLite (a temp file) and PostgreSQL.

The SQL schemas are made by the Alembic migrations alone. One SQLite file and one PostgreSQL
database serve the whole session, so tests use unique ids, emails, slugs and keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.limits import MemoryIdempotencyStore, MemoryRateLimiter
from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.redis_store.limits import RedisRateLimiter
from tesserra_adapters.sql import migrate
from tesserra_adapters.sql.engine import open_engine
from tesserra_adapters.sql.limits import SqlIdempotencyStore, SqlRateLimiter
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.support import postgres_database, redis_client

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
SQL_BACKENDS = BACKENDS[1:]
LIMITER_BACKENDS = [*BACKENDS, pytest.param("redis", id="redis")]


class FakeClock:
    """Seconds as a float, moved by hand: the clock callable the limit adapters accept."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


async def _migrated(url: str) -> AsyncEngine:
    engine = open_engine(url)
    await migrate.upgrade(engine)
    return engine


@pytest.fixture(scope="session")
async def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    path: Path = tmp_path_factory.mktemp("contract") / "tesserra.db"
    engine = await _migrated(f"sqlite+aiosqlite:///{path}")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_engine() -> AsyncIterator[AsyncEngine]:
    async with postgres_database() as url:
        engine = await _migrated(url)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    """The migrated engine of an SQL backend; None for the in-memory one."""
    if backend in ("memory", "redis"):
        return None
    return request.getfixturevalue(f"{backend}_engine")  # type: ignore[no-any-return]


@pytest.fixture
def uow_factory(engine: AsyncEngine | None) -> UnitOfWorkFactory:
    return MemoryUnitOfWorkFactory() if engine is None else SqlUnitOfWorkFactory(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rate_limiter(backend: str, engine: AsyncEngine | None, clock: FakeClock) -> AsyncIterator[RateLimiter]:
    if backend == "redis":
        client = await redis_client()
        yield RedisRateLimiter(client, clock)
        await client.aclose()
    else:
        yield MemoryRateLimiter(clock) if engine is None else SqlRateLimiter(engine, clock)


@pytest.fixture
def idempotency(engine: AsyncEngine | None, clock: FakeClock) -> IdempotencyStore:
    return MemoryIdempotencyStore(clock) if engine is None else SqlIdempotencyStore(engine, clock)


@pytest.fixture(params=SQL_BACKENDS)
def sql_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """The migrated engine of each SQL backend (SQLite, PostgreSQL), for an adapter that only has those."""
    return request.getfixturevalue(f"{request.param}_engine")  # type: ignore[no-any-return]
