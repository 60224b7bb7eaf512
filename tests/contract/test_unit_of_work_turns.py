"""Units of work get a connection in turn: first come, first served, even against a caller that hands
its connection back and asks again at once (which SQLAlchemy's async pool alone lets jump the line, so
that under load some requests waited seconds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql.engine import open_engine
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tests.contract.conftest import SQL_BACKENDS

pytestmark = pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)


@pytest.fixture
async def small_pool(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine of one connection on the backend's database: units of work enter one at a time, so
    the order they enter in is the order they were let in (with two, two let in together may finish
    connecting in either order)."""
    small = open_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    yield small
    await small.dispose()


async def test_a_caller_who_gives_back_and_asks_again_waits_behind_those_already_waiting(
    small_pool: AsyncEngine,
) -> None:
    uow = SqlUnitOfWorkFactory(small_pool)
    entered: list[str] = []
    release, held = asyncio.Event(), asyncio.Event()

    async def hold(name: str) -> None:
        async with uow(read_only=True):
            entered.append(name)
            held.set()
            await release.wait()

    async def visit(name: str) -> None:
        async with uow(read_only=True) as unit:
            entered.append(name)
            await unit.tenants.get("nobody")

    async def hold_then_ask_again() -> None:
        await hold("greedy")
        await visit("greedy again")  # at once: the connection it just gave back is the pool's first idle one

    holders = [asyncio.create_task(hold_then_ask_again())]
    await asyncio.wait_for(held.wait(), 10)
    waiting = []
    for n in range(6):
        waiting.append(asyncio.create_task(visit(f"waiter {n}")))
        await asyncio.sleep(0.01)  # each in the line before the next
    release.set()
    await asyncio.wait_for(asyncio.gather(*holders, *waiting), 30)

    after = entered[1:]
    assert after.index("greedy again") > after.index("waiter 0"), after
    assert [name for name in after if name.startswith("waiter")] == [f"waiter {n}" for n in range(6)]


async def test_a_failed_connect_lets_the_next_one_in(small_pool: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    uow = SqlUnitOfWorkFactory(small_pool)
    real_connect = AsyncEngine.connect

    def refuse(self: AsyncEngine) -> object:
        raise OSError("refused")

    monkeypatch.setattr(AsyncEngine, "connect", refuse)
    for _ in range(3):  # more than the pool holds: each failure gave its turn back
        with pytest.raises(Exception, match="database is unavailable"):
            async with uow(read_only=True):
                pass
    monkeypatch.setattr(AsyncEngine, "connect", real_connect)
    async with asyncio.timeout(10), uow(read_only=True) as unit:
        assert await unit.tenants.get("nobody") is None
