"""ProjectRepository contract: round trip, tenant scoping, case-insensitive unique names, filters,
pages newest first with the total, update, delete (with its resources), count, and the tenant lock."""

from __future__ import annotations

import asyncio

import pytest

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import ProjectFilter, ProjectStatus
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import ascending_ids
from tests.contract.project_entities import project, resource, seed_project, seed_tenant

EVERYTHING = ProjectFilter()


async def test_round_trip_keeps_every_field(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    p = project(t.id, status=ProjectStatus.ARCHIVED, description="ünïcode ✓")
    async with uow_factory() as uow:
        await uow.projects.add(p)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.projects.get(t.id, p.id) == p


async def test_another_tenants_project_is_invisible(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    other = await seed_tenant(uow_factory)
    async with uow_factory() as uow:
        assert await uow.projects.get(other.id, p.id) is None
        assert await uow.projects.list(other.id, PageRequest(), EVERYTHING) == ([], 0)
        assert await uow.projects.delete(other.id, p.id) is False
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.projects.get(p.tenant_id, p.id) == p


async def test_names_are_unique_per_tenant_ignoring_case(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory, name="Loja Online")
    with pytest.raises(Conflict) as caught:
        async with uow_factory() as uow:
            await uow.projects.add(project(p.tenant_id, name="LOJA online"))
    assert caught.value.code == "project_name_taken"
    await seed_project(uow_factory, name="Loja Online")  # another tenant may use it


async def test_update_stores_changes_and_refuses_a_taken_name(uow_factory: UnitOfWorkFactory) -> None:
    first = await seed_project(uow_factory, name="Alpha")
    second = await seed_project(uow_factory, first.tenant_id, name="Beta")
    renamed = project(first.tenant_id, id=second.id, name="Gamma", status=ProjectStatus.ARCHIVED)
    async with uow_factory() as uow:
        await uow.projects.update(renamed)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.projects.update(project(first.tenant_id, id=second.id, name="alpha"))
    async with uow_factory(read_only=True) as uow:
        assert await uow.projects.get(first.tenant_id, second.id) == renamed


async def test_list_is_newest_first_with_total_and_pages(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    ids = ascending_ids(5)
    async with uow_factory() as uow:
        for i in ids:
            await uow.projects.add(project(t.id, id=i))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        everything, total = await uow.projects.list(t.id, PageRequest(limit=500), EVERYTHING)
        second, total_2 = await uow.projects.list(t.id, PageRequest(limit=2, offset=2), EVERYTHING)
        beyond, total_3 = await uow.projects.list(t.id, PageRequest(limit=2, offset=10), EVERYTHING)
    assert [p.id for p in everything] == list(reversed(ids))
    assert total == total_2 == total_3 == 5
    assert second == everything[2:4]
    assert beyond == []


async def test_filters_by_status_and_name_substring_any_case(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    names = ["Loja Online", "loja física", "Blog", "100%_real", "Ação Social"]
    async with uow_factory() as uow:
        for i, name in enumerate(names):
            status = ProjectStatus.ARCHIVED if i % 2 else ProjectStatus.ACTIVE
            await uow.projects.add(project(t.id, name=name, status=status))
        await uow.commit()

    async def named(where: ProjectFilter) -> tuple[set[str], int]:
        async with uow_factory(read_only=True) as uow:
            found, total = await uow.projects.list(t.id, PageRequest(limit=1), where)
            everything, _ = await uow.projects.list(t.id, PageRequest(limit=500), where)
        assert len(found) == min(1, total)
        return {p.name for p in everything}, total

    assert await named(ProjectFilter(name="LOJA")) == ({"Loja Online", "loja física"}, 2)
    assert await named(ProjectFilter(name="loja", status=ProjectStatus.ARCHIVED)) == ({"loja física"}, 1)
    assert await named(ProjectFilter(status=ProjectStatus.ACTIVE)) == ({"Loja Online", "Blog", "Ação Social"}, 3)
    assert await named(ProjectFilter(name="%")) == ({"100%_real"}, 1)  # wildcards are literal
    assert await named(ProjectFilter(name="_")) == ({"100%_real"}, 1)
    assert await named(ProjectFilter(name="AÇÃO")) == ({"Ação Social"}, 1)
    assert await named(ProjectFilter(name="nothing")) == (set(), 0)


async def test_delete_removes_the_project_and_its_resources(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    kept = await seed_project(uow_factory, p.tenant_id)
    doomed, survivor = resource(p.tenant_id, p.id), resource(p.tenant_id, kept.id)
    async with uow_factory() as uow:
        await uow.resources.add(doomed)
        await uow.resources.add(survivor)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.projects.delete(p.tenant_id, p.id) is True
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.projects.get(p.tenant_id, p.id) is None
        assert await uow.resources.find(doomed.id) is None
        assert await uow.resources.find(survivor.id) == survivor
        assert await uow.projects.count(p.tenant_id) == 1


async def test_uncommitted_work_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    p = await seed_project(uow_factory)
    async with uow_factory() as uow:
        await uow.projects.add(project(p.tenant_id))
        await uow.projects.delete(p.tenant_id, p.id)
    async with uow_factory(read_only=True) as uow:
        assert await uow.projects.count(p.tenant_id) == 1
        assert await uow.projects.get(p.tenant_id, p.id) == p


async def test_tenant_lock_serializes_count_then_insert(uow_factory: UnitOfWorkFactory) -> None:
    """Two writers that lock the tenant, count and insert below a limit of 1: only one gets in."""
    t = await seed_tenant(uow_factory)
    outcomes: list[str] = []

    async def create(label: str) -> None:
        try:
            async with uow_factory() as uow:
                await uow.tenants.lock(t.id)
                used = await uow.projects.count(t.id)
                await asyncio.sleep(0.05)  # widen the window a missing lock would let the other through
                if used >= 1:
                    outcomes.append("refused")
                    return
                await uow.projects.add(project(t.id, name=label))
                await uow.commit()
                outcomes.append("created")
        except Conflict:
            outcomes.append("refused")

    await asyncio.gather(create("one"), create("two"), create("three"))
    assert sorted(outcomes) == ["created", "refused", "refused"]
    async with uow_factory(read_only=True) as uow:
        assert await uow.projects.count(t.id) == 1
