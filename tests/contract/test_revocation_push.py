"""The revocation feed's push on PostgreSQL (LISTEN/NOTIFY): a committed publication wakes every
listening watcher at once, a rolled-back one never does, and a watcher whose push is live evicts a
revoked entry on the push, long before its next poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql.feed_push import PgFeedPush
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_adapters.system import SystemClock
from tesserra_core.ports.persistence import Revocation
from tesserra_core.runners.revocation_watcher import RevocationWatcher
from tesserra_core.usecases.caching import CacheSet, TaggedCache
from tesserra_core.usecases.credentials import KeyUsage
from tests.contract.entities import T0, unique

pytestmark = pytest.mark.postgres


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.01)


async def test_a_commit_wakes_the_listener_and_a_rollback_does_not(postgres_engine: AsyncEngine) -> None:
    uow_factory = SqlUnitOfWorkFactory(postgres_engine)
    push = PgFeedPush(postgres_engine.url)
    wake = asyncio.Event()
    assert not push.live
    async with push.watching(wake):
        await _until(lambda: push.live and wake.is_set())  # connected: set once, to poll and catch up
        wake.clear()
        async with uow_factory() as uow:
            await uow.revocations.publish(Revocation("key", unique("key")), T0)
            # no commit: rolled back
        await asyncio.sleep(0.3)
        assert not wake.is_set()
        async with uow_factory() as uow:
            await uow.revocations.publish(Revocation("key", unique("key")), T0)
            await uow.commit()
        await asyncio.wait_for(wake.wait(), 2.0)
    assert not push.live


async def test_a_live_push_evicts_at_once_without_waiting_for_a_poll(postgres_engine: AsyncEngine) -> None:
    uow_factory = SqlUnitOfWorkFactory(postgres_engine)
    cache: TaggedCache[str] = TaggedCache()
    subject = unique("key")
    cache.put("credential", "principal", float("inf"), (f"key:{subject}",))
    push = PgFeedPush(postgres_engine.url)
    watcher = RevocationWatcher(
        uow_factory, CacheSet((cache,)), KeyUsage(), SystemClock(), push=push, interval=0.05, pushed_interval=60.0
    )
    async with watcher.watching():
        await _until(lambda: push.live)
        await asyncio.sleep(0.2)  # the poll that catches up once live has run: next one in 60 s
        async with uow_factory() as uow:
            await uow.revocations.publish(Revocation("key", subject), T0)
            await uow.commit()
        published = time.monotonic()
        await _until(lambda: cache.get("credential", time.monotonic()) is None, within=2.0)
        assert time.monotonic() - published < 1.0
