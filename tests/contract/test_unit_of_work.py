"""UnitOfWork contract: commit persists, leaving without commit rolls back, read-only reads, ping."""

from __future__ import annotations

import pytest

from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import membership, tenant, user


async def test_ping_answers(uow_factory: UnitOfWorkFactory) -> None:
    await uow_factory.ping()


async def test_commit_persists_for_the_next_unit_of_work(uow_factory: UnitOfWorkFactory) -> None:
    t, u = tenant(), user()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.users.add(u)
        await uow.memberships.add(membership(t.id, u.id))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.tenants.get(t.id) == t
        assert await uow.users.get(u.id) == u
        assert await uow.memberships.get(t.id, u.id) == membership(t.id, u.id)


async def test_leaving_without_commit_discards_the_work(uow_factory: UnitOfWorkFactory) -> None:
    t, u = tenant(), user()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.users.add(u)

    async with uow_factory() as uow:
        assert await uow.tenants.get(t.id) is None
        assert await uow.users.get_by_email(u.email) is None


async def test_an_exception_rolls_back_and_propagates(uow_factory: UnitOfWorkFactory) -> None:
    t = tenant()

    async def add_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.tenants.add(t)
            raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        await add_then_fail()

    async with uow_factory() as uow:
        assert await uow.tenants.get(t.id) is None


async def test_work_after_commit_is_still_rolled_back(uow_factory: UnitOfWorkFactory) -> None:
    first, second = tenant(), tenant()
    async with uow_factory() as uow:
        await uow.tenants.add(first)
        await uow.commit()
        await uow.tenants.add(second)

    async with uow_factory() as uow:
        assert await uow.tenants.get(first.id) == first
        assert await uow.tenants.get(second.id) is None


async def test_update_rolled_back_restores_the_previous_value(uow_factory: UnitOfWorkFactory) -> None:
    t = tenant()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.tenants.update(tenant(id=t.id, slug=t.slug, name="Renamed"))

    async with uow_factory() as uow:
        assert await uow.tenants.get(t.id) == t


async def test_read_only_unit_of_work_reads_committed_data(uow_factory: UnitOfWorkFactory) -> None:
    t, u = tenant(), user()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.users.add(u)
        await uow.commit()

    async with uow_factory(read_only=True) as uow:
        assert await uow.tenants.get(t.id) == t
        assert await uow.users.get_by_email(u.email) == u
        assert await uow.users.count() >= 1
