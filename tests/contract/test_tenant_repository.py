"""TenantRepository contract: round trip, slug uniqueness, update, and pages in id order."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from tesserra_core.domain.identity import Tenant, TenantStatus
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, ascending_ids, tenant


async def _add(uow_factory: UnitOfWorkFactory, *tenants: Tenant) -> None:
    async with uow_factory() as uow:
        for t in tenants:
            await uow.tenants.add(t)
        await uow.commit()


async def _all(uow_factory: UnitOfWorkFactory) -> list[Tenant]:
    found: list[Tenant] = []
    async with uow_factory(read_only=True) as uow:
        while True:
            page, _ = await uow.tenants.list(PageRequest(limit=500, offset=len(found)))
            found += page
            if len(page) < 500:
                return found


async def test_round_trip_keeps_every_field(uow_factory: UnitOfWorkFactory) -> None:
    t = tenant(status=TenantStatus.SUSPENDED, plan="enterprise")
    await _add(uow_factory, t)

    async with uow_factory() as uow:
        got = await uow.tenants.get(t.id)

    assert got == t
    assert got is not None
    assert got.status is TenantStatus.SUSPENDED
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.updated_at == T0 + timedelta(seconds=1)


async def test_datetimes_in_another_zone_come_back_as_the_same_aware_instant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    zoned = T0.astimezone(timezone(timedelta(hours=-3)))
    t = tenant(created_at=zoned, updated_at=zoned)
    await _add(uow_factory, t)

    async with uow_factory() as uow:
        got = await uow.tenants.get(t.id)

    assert got is not None
    assert got.created_at == T0
    assert got.created_at.tzinfo is not None


async def test_unknown_tenant_is_none(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.tenants.get("0" * 26) is None


async def test_adding_a_taken_slug_conflicts(uow_factory: UnitOfWorkFactory) -> None:
    first = tenant()
    await _add(uow_factory, first)

    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.tenants.add(tenant(slug=first.slug))


async def test_update_stores_the_changes(uow_factory: UnitOfWorkFactory) -> None:
    t = tenant()
    await _add(uow_factory, t)
    changed = tenant(
        id=t.id,
        name="Acme SA",
        slug=t.slug + "-sa",
        status=TenantStatus.SUSPENDED,
        plan="free",
        created_at=t.created_at,
        updated_at=T0 + timedelta(days=1),
    )

    async with uow_factory() as uow:
        await uow.tenants.update(changed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tenants.get(t.id) == changed


async def test_update_to_another_tenants_slug_conflicts(uow_factory: UnitOfWorkFactory) -> None:
    first, second = tenant(), tenant()
    await _add(uow_factory, first, second)

    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.tenants.update(tenant(id=second.id, slug=first.slug))

    async with uow_factory() as uow:
        assert await uow.tenants.get(second.id) == second


async def test_update_keeping_its_own_slug_is_no_conflict(uow_factory: UnitOfWorkFactory) -> None:
    t = tenant()
    await _add(uow_factory, t)

    async with uow_factory() as uow:
        await uow.tenants.update(tenant(id=t.id, slug=t.slug, name="Same slug"))
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.tenants.get(t.id)
    assert got is not None
    assert got.name == "Same slug"


async def test_list_is_in_id_order_with_the_total(uow_factory: UnitOfWorkFactory) -> None:
    ids = ascending_ids(3)
    await _add(uow_factory, *(tenant(id=i) for i in reversed(ids)))

    everything = await _all(uow_factory)

    listed = [t.id for t in everything]
    assert listed == sorted(listed)
    assert [i for i in listed if i in ids] == ids
    async with uow_factory(read_only=True) as uow:
        _, total = await uow.tenants.list(PageRequest(limit=1))
    assert total == len(everything)


async def test_pages_slice_the_ordered_list_and_keep_the_total(uow_factory: UnitOfWorkFactory) -> None:
    await _add(uow_factory, *(tenant(id=i) for i in ascending_ids(5)))
    everything = await _all(uow_factory)

    async with uow_factory(read_only=True) as uow:
        second, total = await uow.tenants.list(PageRequest(limit=2, offset=2))
        beyond, total_beyond = await uow.tenants.list(PageRequest(limit=2, offset=len(everything)))

    assert second == everything[2:4]
    assert total == len(everything)
    assert beyond == []
    assert total_beyond == len(everything)
