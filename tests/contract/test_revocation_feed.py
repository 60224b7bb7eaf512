"""RevocationRepository contract: an ordered feed of committed revocations, read from a cursor."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tesserra_core.ports.persistence import Revocation, UnitOfWorkFactory
from tests.contract.entities import T0, unique


def _revocation(kind: str = "key") -> Revocation:
    return Revocation(kind, unique(kind))


async def _publish(uow_factory: UnitOfWorkFactory, *revocations: Revocation) -> None:
    async with uow_factory() as uow:
        for r in revocations:
            await uow.revocations.publish(r, T0)
        await uow.commit()


async def _cursor(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory(read_only=True) as uow:
        return await uow.revocations.cursor()


async def _since(uow_factory: UnitOfWorkFactory, cursor: int) -> tuple[list[Revocation], int]:
    async with uow_factory(read_only=True) as uow:
        return await uow.revocations.since(cursor)


async def test_published_revocations_come_back_in_order_with_a_new_cursor(uow_factory: UnitOfWorkFactory) -> None:
    start = await _cursor(uow_factory)
    first, second, third = _revocation("key"), _revocation("session"), _revocation("tenant")
    await _publish(uow_factory, first, second)
    await _publish(uow_factory, third)

    found, cursor = await _since(uow_factory, start)
    after, same = await _since(uow_factory, cursor)

    assert found == [first, second, third]
    assert cursor > start
    assert cursor == await _cursor(uow_factory)
    assert (after, same) == ([], cursor)


async def test_reading_from_a_middle_cursor_returns_only_the_later_ones(uow_factory: UnitOfWorkFactory) -> None:
    start = await _cursor(uow_factory)
    first, second = _revocation(), _revocation()
    await _publish(uow_factory, first)
    middle = await _cursor(uow_factory)
    await _publish(uow_factory, second)

    assert (await _since(uow_factory, start))[0] == [first, second]
    assert (await _since(uow_factory, middle))[0] == [second]


async def test_rolled_back_revocations_never_appear(uow_factory: UnitOfWorkFactory) -> None:
    start = await _cursor(uow_factory)
    dropped, kept = _revocation(), _revocation()
    async with uow_factory() as uow:
        await uow.revocations.publish(dropped, T0)
    await _publish(uow_factory, kept)

    found, _ = await _since(uow_factory, start)

    assert found == [kept]


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_interleaved_transactions_are_neither_skipped_nor_leaked(
    uow_factory: UnitOfWorkFactory, outcome: str
) -> None:
    """A reader polling while an earlier transaction is still open must not move past it for good."""
    start = await _cursor(uow_factory)
    slow, fast, last = _revocation("slow"), _revocation("fast"), _revocation("last")

    slow_uow = uow_factory()
    await slow_uow.__aenter__()
    try:
        await slow_uow.revocations.publish(slow, T0)
        fast_task = asyncio.create_task(_publish(uow_factory, fast))
        await asyncio.sleep(0.2)  # the fast one commits now, unless the adapter makes it wait
        seen, cursor = await _since(uow_factory, start)
        if outcome == "commit":
            await slow_uow.commit()
    finally:
        await slow_uow.__aexit__(None, None, None)
    await asyncio.wait_for(fast_task, 15)
    await _publish(uow_factory, last)
    more, _ = await _since(uow_factory, cursor)
    seen += more

    expected = {fast, last} | ({slow} if outcome == "commit" else set())
    assert set(seen) == expected
    assert len(seen) == len(expected)
    assert seen[-1] == last


async def test_revocations_published_at_different_times_keep_publication_order(
    uow_factory: UnitOfWorkFactory,
) -> None:
    start = await _cursor(uow_factory)
    early, late = _revocation(), _revocation()
    async with uow_factory() as uow:
        await uow.revocations.publish(late, T0 + timedelta(hours=1))
        await uow.revocations.publish(early, T0)
        await uow.commit()

    assert (await _since(uow_factory, start))[0] == [late, early]


async def test_purge_forgets_old_revocations_and_keeps_cursors_valid(uow_factory: UnitOfWorkFactory) -> None:
    later = T0 + timedelta(days=3650)  # after every other test's revocations
    start = await _cursor(uow_factory)
    old, new = _revocation(), _revocation()
    async with uow_factory() as uow:
        await uow.revocations.publish(old, later)
        await uow.revocations.publish(new, later + timedelta(hours=2))
        await uow.commit()
    end = await _cursor(uow_factory)

    async with uow_factory() as uow:
        purged = await uow.revocations.purge(later + timedelta(hours=1))
        await uow.commit()

    assert purged >= 1
    assert await _since(uow_factory, start) == ([new], end)
    assert await _cursor(uow_factory) == end
