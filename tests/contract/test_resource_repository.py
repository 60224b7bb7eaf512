"""ResourceRepository contract: round trip (config JSON intact), tenant scoping, unique names per
project, pages oldest first, update, delete, counts, and the unsettled ones across tenants."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.resources import ResourceStatus
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, ascending_ids
from tests.contract.project_entities import resource, seed_project, seed_tenant


async def test_round_trip_keeps_every_field(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    r = resource(
        p.tenant_id,
        p.id,
        config={"nested": {"list": [1, 2.5, "três", None, True]}, "port": 80},
        status=ResourceStatus.FAILED,
        status_reason="image not found",
        workload_id="wl-123",
        endpoint="http://127.0.0.1:40000",
    )
    async with uow_factory() as uow:
        await uow.resources.add(r)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.resources.get(p.tenant_id, r.id) == r
        assert await uow.resources.find(r.id) == r


async def test_another_tenants_resource_is_invisible(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    r = resource(p.tenant_id, p.id)
    other = await seed_tenant(uow_factory)
    async with uow_factory() as uow:
        await uow.resources.add(r)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.resources.get(other.id, r.id) is None
        assert await uow.resources.list(other.id, p.id, PageRequest()) == ([], 0)
        assert await uow.resources.all_of(other.id) == []
        assert await uow.resources.delete(other.id, r.id) is False
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.resources.get(p.tenant_id, r.id) == r


async def test_names_are_unique_per_project(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    q = await seed_project(uow_factory, p.tenant_id)
    async with uow_factory() as uow:
        await uow.resources.add(resource(p.tenant_id, p.id, name="api"))
        await uow.resources.add(resource(p.tenant_id, q.id, name="api"))
        await uow.commit()
    with pytest.raises(Conflict) as caught:
        async with uow_factory() as uow:
            await uow.resources.add(resource(p.tenant_id, p.id, name="api"))
    assert caught.value.code == "resource_name_taken"


async def test_list_pages_oldest_first_and_all_of(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    q = await seed_project(uow_factory, p.tenant_id)
    ids = ascending_ids(4)
    async with uow_factory() as uow:
        for i in reversed(ids):
            await uow.resources.add(resource(p.tenant_id, p.id, id=i))
        await uow.resources.add(resource(p.tenant_id, q.id))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        page, total = await uow.resources.list(p.tenant_id, p.id, PageRequest(limit=2, offset=1))
        of_project = await uow.resources.all_of(p.tenant_id, p.id)
        of_tenant = await uow.resources.all_of(p.tenant_id)
        count = await uow.resources.count(p.tenant_id)
    assert [r.id for r in page] == ids[1:3]
    assert total == 4
    assert [r.id for r in of_project] == ids
    assert len(of_tenant) == count == 5


async def test_update_and_delete(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    r = resource(p.tenant_id, p.id)
    taken = resource(p.tenant_id, p.id)
    async with uow_factory() as uow:
        await uow.resources.add(r)
        await uow.resources.add(taken)
        await uow.commit()
    running = resource(
        p.tenant_id, p.id, id=r.id, name=r.name, status=ResourceStatus.RUNNING, workload_id="w", endpoint="http://x"
    )
    async with uow_factory() as uow:
        await uow.resources.update(running)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.resources.update(resource(p.tenant_id, p.id, id=r.id, name=taken.name))
    async with uow_factory() as uow:
        assert await uow.resources.get(p.tenant_id, r.id) == running
        assert await uow.resources.delete(p.tenant_id, r.id) is True
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.resources.find(r.id) is None


async def test_unsettled_spans_tenants_and_only_unsettled_states(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    q = await seed_project(uow_factory)
    made = {
        status: resource(p.tenant_id if i % 2 else q.tenant_id, p.id if i % 2 else q.id, status=status)
        for i, status in enumerate(ResourceStatus)
    }
    async with uow_factory() as uow:
        for r in made.values():
            await uow.resources.add(r)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        unsettled = {r.id for r in await uow.resources.unsettled()}
    wanted = {ResourceStatus.PENDING, ResourceStatus.PROVISIONING, ResourceStatus.DELETING}
    assert {made[s].id for s in wanted} <= unsettled
    assert not {r.id for s, r in made.items() if s not in wanted} & unsettled


async def test_update_compare_and_set_on_updated_at(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    r = resource(p.tenant_id, p.id)
    async with uow_factory() as uow:
        await uow.resources.add(r)
        await uow.commit()
    later = T0 + timedelta(seconds=5)
    first = msgspec.structs.replace(r, status=ResourceStatus.PROVISIONING, updated_at=later)
    second = msgspec.structs.replace(r, status=ResourceStatus.DELETING, updated_at=later)
    async with uow_factory() as uow:
        assert await uow.resources.update(first, if_updated_at=r.updated_at) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.resources.update(second, if_updated_at=r.updated_at) is False  # it moved on
        await uow.commit()
    other = await seed_tenant(uow_factory)
    async with uow_factory() as uow:
        assert await uow.resources.update(msgspec.structs.replace(first, tenant_id=other.id)) is False
        assert await uow.resources.update(resource(p.tenant_id, p.id)) is False  # never added
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.resources.find(r.id) == first
