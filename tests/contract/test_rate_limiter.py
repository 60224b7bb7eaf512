"""RateLimiter contract: an exact sliding window per key, exact under concurrency too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.redis_store.limits import RedisRateLimiter
from tesserra_adapters.sql.engine import open_engine
from tesserra_adapters.sql.limits import SqlRateLimiter
from tesserra_core.ports.limits import RateLimiter
from tests.contract.conftest import LIMITER_BACKENDS, FakeClock
from tests.contract.entities import unique
from tests.support import redis_client


@pytest.fixture(params=LIMITER_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Rate limiters also come in Redis."""
    return str(request.param)


@pytest.fixture
def key() -> str:
    return unique("rate")


async def test_exactly_limit_hits_pass_then_the_next_is_refused(rate_limiter: RateLimiter, key: str) -> None:
    decisions = [await rate_limiter.hit(key, 3, 60.0) for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert {d.limit for d in decisions} == {3}
    refused = decisions[-1]
    assert 0 < refused.reset_after <= 60.0


async def test_refusal_says_when_the_oldest_hit_leaves_the_window(
    rate_limiter: RateLimiter, clock: FakeClock, key: str
) -> None:
    await rate_limiter.hit(key, 2, 10.0)
    clock.advance(1.0)
    await rate_limiter.hit(key, 2, 10.0)
    clock.advance(2.0)

    refused = await rate_limiter.hit(key, 2, 10.0)

    assert not refused.allowed
    assert refused.reset_after == pytest.approx(7.0)


async def test_the_window_frees_slots_as_it_slides(rate_limiter: RateLimiter, clock: FakeClock, key: str) -> None:
    await rate_limiter.hit(key, 2, 10.0)
    clock.advance(5.0)
    await rate_limiter.hit(key, 2, 10.0)
    clock.advance(4.0)
    still_full = await rate_limiter.hit(key, 2, 10.0)
    clock.advance(1.5)  # the first hit is now 10.5 s old; the second 5.5 s
    one_free = await rate_limiter.hit(key, 2, 10.0)
    full_again = await rate_limiter.hit(key, 2, 10.0)

    assert not still_full.allowed
    assert one_free.allowed
    assert one_free.remaining == 0
    assert not full_again.allowed
    assert full_again.reset_after == pytest.approx(4.5)


async def test_everything_frees_after_a_whole_window(rate_limiter: RateLimiter, clock: FakeClock, key: str) -> None:
    for _ in range(3):
        await rate_limiter.hit(key, 3, 30.0)
    clock.advance(30.5)

    again = [await rate_limiter.hit(key, 3, 30.0) for _ in range(3)]

    assert all(d.allowed for d in again)
    assert again[0].remaining == 2


async def test_refused_hits_do_not_count(rate_limiter: RateLimiter, clock: FakeClock, key: str) -> None:
    await rate_limiter.hit(key, 1, 10.0)
    for _ in range(5):
        clock.advance(1.0)
        assert not (await rate_limiter.hit(key, 1, 10.0)).allowed
    clock.advance(5.5)  # 10.5 s after the only counted hit

    assert (await rate_limiter.hit(key, 1, 10.0)).allowed


async def test_keys_are_independent(rate_limiter: RateLimiter, key: str) -> None:
    other = unique("rate")
    await rate_limiter.hit(key, 1, 60.0)

    refused = await rate_limiter.hit(key, 1, 60.0)
    elsewhere = await rate_limiter.hit(other, 1, 60.0)

    assert not refused.allowed
    assert elsewhere.allowed


async def test_concurrent_hits_never_overshoot_the_limit(rate_limiter: RateLimiter, key: str) -> None:
    decisions = await asyncio.gather(*(rate_limiter.hit(key, 10, 60.0) for _ in range(30)))

    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


async def test_purge_forgets_idle_keys_only(rate_limiter: RateLimiter, clock: FakeClock, key: str) -> None:
    idle, busy = f"{key}-idle", f"{key}-busy"
    await rate_limiter.hit(idle, 1, 1000.0)
    clock.advance(100.0)
    await rate_limiter.hit(busy, 1, 1000.0)

    purged = await rate_limiter.purge(idle_for=50.0)

    assert purged >= 1
    assert (await rate_limiter.hit(idle, 1, 1000.0)).allowed  # its count is gone
    assert not (await rate_limiter.hit(busy, 1, 1000.0)).allowed  # its count is kept


async def test_reset_forgets_a_key_and_only_that_key(rate_limiter: RateLimiter, key: str) -> None:
    other = unique("rate")
    for k in (key, key, other):
        await rate_limiter.hit(k, 2, 60.0)

    await rate_limiter.reset(key)

    assert [(await rate_limiter.hit(key, 2, 60.0)).allowed for _ in range(3)] == [True, True, False]
    assert (await rate_limiter.hit(other, 2, 60.0)).remaining == 0


async def test_reset_of_an_unknown_key_is_a_no_op(rate_limiter: RateLimiter, key: str) -> None:
    await rate_limiter.reset(key)

    assert (await rate_limiter.hit(key, 1, 60.0)).allowed


@pytest.fixture
async def other_worker(
    backend: str, engine: AsyncEngine | None, rate_limiter: RateLimiter, clock: FakeClock
) -> AsyncIterator[RateLimiter]:
    """The limiter as another worker process sees it: its own engine or Redis connection on the
    same store (in memory, one process has one limiter)."""
    if backend == "redis":
        client = await redis_client()
        yield RedisRateLimiter(client, clock)
        await client.aclose()
    elif engine is not None:
        own = open_engine(engine.url.render_as_string(hide_password=False))
        yield SqlRateLimiter(own, clock)
        await own.dispose()
    else:
        yield rate_limiter


async def test_concurrent_reservations_across_workers_never_exceed_the_limit(
    rate_limiter: RateLimiter, other_worker: RateLimiter, key: str
) -> None:
    """A login reserves its password check with a hit before verifying: 40 at once from two workers
    must leave exactly 5 allowed."""
    workers = (rate_limiter, other_worker)
    decisions = await asyncio.gather(*(workers[i % 2].hit(key, 5, 900.0) for i in range(40)))

    assert sum(d.allowed for d in decisions) == 5
    assert sorted(d.remaining for d in decisions if d.allowed) == [0, 1, 2, 3, 4]
