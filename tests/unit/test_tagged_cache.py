"""TaggedCache.fetch: a read an eviction overtook is not kept, and misses of one key read once."""

from __future__ import annotations

import asyncio

import pytest

from tesserra_core.usecases.caching import Fresh, TaggedCache


class Store:
    """A value that changes, read slowly enough for requests to pile up behind a miss."""

    def __init__(self) -> None:
        self.version = 0
        self.reads = 0
        self.gate = asyncio.Event()
        self.failures = 0  # reads to fail from now on

    async def read(self) -> Fresh[str]:
        self.reads += 1
        version = self.version
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise LookupError("the store is down")
        return f"v{version}", 100.0, ("tag",)


async def test_requests_missing_together_read_once() -> None:
    cache: TaggedCache[str] = TaggedCache()
    store = Store()
    herd = [asyncio.create_task(cache.fetch("k", 0.0, store.read)) for _ in range(64)]
    await asyncio.sleep(0)
    store.gate.set()

    assert await asyncio.gather(*herd) == ["v0"] * 64
    assert store.reads == 1


async def test_a_read_an_eviction_overtook_is_not_kept_and_the_waiters_read_again() -> None:
    cache: TaggedCache[str] = TaggedCache()
    store = Store()
    first = asyncio.create_task(cache.fetch("k", 0.0, store.read))
    await asyncio.sleep(0)  # the first read has begun, with version 0
    second = asyncio.create_task(cache.fetch("k", 0.0, store.read))  # waits behind it
    store.version = 1  # a change commits ...
    cache.evict("tag")  # ... and evicts while the first read is out
    store.gate.set()

    assert await first == "v0"  # its caller asked before the change
    assert await second == "v1"  # asked after: never the stale read
    assert store.reads == 2
    assert await cache.fetch("k", 0.0, store.read) == "v1"
    assert store.reads == 2


async def test_a_cancelled_reader_leaves_the_next_one_to_read() -> None:
    cache: TaggedCache[str] = TaggedCache()
    store = Store()
    first = asyncio.create_task(cache.fetch("k", 0.0, store.read))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.fetch("k", 0.0, store.read))
    await asyncio.sleep(0)
    first.cancel()
    store.gate.set()

    assert await second == "v0"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_read_is_not_kept_and_fails_only_its_own_caller() -> None:
    cache: TaggedCache[str] = TaggedCache()
    store = Store()
    store.failures = 1
    first = asyncio.create_task(cache.fetch("k", 0.0, store.read))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.fetch("k", 0.0, store.read))
    await asyncio.sleep(0)
    store.gate.set()
    with pytest.raises(LookupError):
        await first

    assert await second == "v0"
    assert len(cache) == 1


async def test_other_keys_do_not_wait_for_a_read() -> None:
    cache: TaggedCache[str] = TaggedCache()
    slow = Store()
    pending = asyncio.create_task(cache.fetch("slow", 0.0, slow.read))
    await asyncio.sleep(0)

    async def quick() -> Fresh[str]:
        return "quick", 100.0, ()

    assert await asyncio.wait_for(cache.fetch("other", 0.0, quick), 1.0) == "quick"
    slow.gate.set()
    assert await pending == "v0"


async def test_expired_entries_are_read_again() -> None:
    cache: TaggedCache[str] = TaggedCache()
    store = Store()
    store.gate.set()
    assert await cache.fetch("k", 0.0, store.read) == "v0"
    store.version = 1

    assert await cache.fetch("k", 99.9, store.read) == "v0"
    assert await cache.fetch("k", 100.0, store.read) == "v1"
    assert store.reads == 2
