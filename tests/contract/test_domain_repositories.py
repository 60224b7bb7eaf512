"""Domain and DNS record repositories: the same contract on memory, SQLite and PostgreSQL (tenant
scoping, platform-wide uniqueness, the atomic serial, pages)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tesserra_core.domain.domains import DomainFilter, RecordType, VerificationStatus
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.domain_entities import a_tenant, add_domain, domain, record
from tests.contract.entities import T0


async def test_a_domain_round_trips_and_is_scoped_by_tenant(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    d = await add_domain(
        uow_factory,
        domain(mine, verification_status=VerificationStatus.VERIFIED, verified_at=T0, last_checked_at=T0),
    )
    async with uow_factory(read_only=True) as uow:
        assert await uow.domains.get(mine, d.id) == d
        assert await uow.domains.get_by_name(mine, d.name) == d
        assert await uow.domains.get(theirs, d.id) is None
        assert await uow.domains.get_by_name(theirs, d.name) is None
        assert await uow.domains.count(mine) == 1
        assert await uow.domains.count(theirs) == 0


async def test_a_name_is_unique_on_the_platform(uow_factory: UnitOfWorkFactory) -> None:
    first, second = await a_tenant(uow_factory), await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(first))
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.domains.add(domain(second, name=d.name))


async def test_concurrent_claims_of_one_name_leave_exactly_one(uow_factory: UnitOfWorkFactory) -> None:
    tenants = [await a_tenant(uow_factory) for _ in range(4)]
    name = f"race{uuid.uuid4().hex[:10]}.com"

    async def claim(tenant_id: str) -> str:
        try:
            async with uow_factory() as uow:
                await uow.domains.add(domain(tenant_id, name=name))
                await asyncio.sleep(0.05)
                await uow.commit()
        except Conflict:
            return "conflict"
        return "claimed"

    outcomes = await asyncio.gather(*(claim(t) for t in tenants))
    assert sorted(outcomes) == ["claimed", "conflict", "conflict", "conflict"]
    owners = []
    async with uow_factory(read_only=True) as uow:
        for t in tenants:
            if await uow.domains.get_by_name(t, name) is not None:
                owners.append(t)
    assert len(owners) == 1


async def test_list_is_by_name_with_the_total(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    names = [f"{c}{uuid.uuid4().hex[:6]}.com" for c in "cab"]
    for n in names:
        await add_domain(uow_factory, domain(mine, name=n))
    async with uow_factory(read_only=True) as uow:
        everything, total = await uow.domains.list(mine, PageRequest(500, 0))
        page, page_total = await uow.domains.list(mine, PageRequest(1, 1))
    assert [d.name for d in everything] == sorted(names)
    assert total == page_total == 3
    assert page == everything[1:2]


async def test_list_narrows_by_name_substring_and_status(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    tag = uuid.uuid4().hex[:6]
    await add_domain(uow_factory, domain(mine, name=f"web-{tag}.com"))
    await add_domain(uow_factory, domain(mine, name=f"web-{tag}.org", verification_status=VerificationStatus.VERIFIED))
    await add_domain(uow_factory, domain(mine, name=f"api{tag}.com"))
    other = await a_tenant(uow_factory)
    await add_domain(uow_factory, domain(other, name=f"web-{tag}.net"))
    async with uow_factory(read_only=True) as uow:
        named, named_total = await uow.domains.list(mine, PageRequest(500, 0), DomainFilter(name=f"WEB-{tag}"))
        verified, _ = await uow.domains.list(
            mine, PageRequest(500, 0), DomainFilter(status=VerificationStatus.VERIFIED)
        )
        wildcard, _ = await uow.domains.list(mine, PageRequest(500, 0), DomainFilter(name="%"))
        both, _ = await uow.domains.list(
            mine, PageRequest(500, 0), DomainFilter(name=".com", status=VerificationStatus.PENDING)
        )
    assert [d.name for d in named] == [f"web-{tag}.com", f"web-{tag}.org"]
    assert named_total == 2
    assert [d.name for d in verified] == [f"web-{tag}.org"]
    assert wildcard == []
    assert sorted(d.name for d in both) == [f"api{tag}.com", f"web-{tag}.com"]


async def test_update_keeps_the_serial_and_bump_serial_moves_it_atomically(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine, serial=2025030405))
    later = T0 + timedelta(hours=1)
    async with uow_factory() as uow:
        await uow.domains.update(domain(mine, id=d.id, name=d.name, default_ttl=600, serial=1, updated_at=later))
        assert await uow.domains.bump_serial(mine, d.id, 2025030400, later) == 2025030406
        assert await uow.domains.bump_serial(mine, d.id, 2025030500, later) == 2025030500
        assert await uow.domains.bump_serial("0" * 26, d.id, 2025030500, later) is None
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        got = await uow.domains.get(mine, d.id)
    assert got is not None
    assert (got.serial, got.default_ttl, got.updated_at) == (2025030500, 600, later)


async def test_concurrent_bumps_never_hand_out_one_serial_twice(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine, serial=2025030400))

    async def bump() -> int:
        async with uow_factory() as uow:
            serial = await uow.domains.bump_serial(mine, d.id, 2025030400, T0)
            await asyncio.sleep(0.01)
            await uow.commit()
        assert serial is not None
        return serial

    serials = await asyncio.gather(*(bump() for _ in range(6)))
    assert sorted(serials) == list(range(2025030401, 2025030407))


async def test_records_round_trip_scoped_and_ordered(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    other = await add_domain(uow_factory, domain(mine))
    made = [
        record(d, name="www", type=RecordType.TXT, data='"hello world"'),
        record(d, name="@", type=RecordType.MX, data="10 mail.example.com."),
        record(d, name="www", type=RecordType.A),
        record(other),
    ]
    async with uow_factory() as uow:
        for r in made:
            await uow.dns_records.add(r)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        zone = await uow.dns_records.all(mine, d.id)
        page, total = await uow.dns_records.list(mine, d.id, PageRequest(2, 1))
        assert await uow.dns_records.get(mine, d.id, made[0].id) == made[0]
        assert await uow.dns_records.get(mine, other.id, made[0].id) is None
        assert await uow.dns_records.all("0" * 26, d.id) == []
    assert zone == [made[1], made[2], made[0]]
    assert (page, total) == (zone[1:3], 3)


async def test_records_update_delete_and_replace(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    r = record(d)
    async with uow_factory() as uow:
        await uow.dns_records.add(r)
        await uow.commit()
    changed = record(d, id=r.id, name="app", ttl=60, data="192.0.2.9", updated_at=T0 + timedelta(seconds=5))
    fresh = [record(d, name=f"n{i}") for i in range(3)]
    async with uow_factory() as uow:
        await uow.dns_records.update(changed)
        assert await uow.dns_records.get(mine, d.id, r.id) == changed
        assert not await uow.dns_records.delete("0" * 26, d.id, r.id)
        assert await uow.dns_records.delete(mine, d.id, r.id)
        await uow.dns_records.replace_all(mine, d.id, fresh)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.dns_records.all(mine, d.id) == fresh


async def test_a_rolled_back_replace_keeps_the_old_zone(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    old = [record(d, name=f"old{i}") for i in range(2)]
    async with uow_factory() as uow:
        await uow.dns_records.replace_all(mine, d.id, old)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.dns_records.replace_all(mine, d.id, [record(d, name="new")])
        await uow.domains.bump_serial(mine, d.id, 2099010100, T0)
        # no commit: the unit of work rolls back
    async with uow_factory(read_only=True) as uow:
        assert await uow.dns_records.all(mine, d.id) == old
        got = await uow.domains.get(mine, d.id)
    assert got is not None
    assert got.serial == d.serial


async def test_deleting_a_domain_deletes_its_records(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    async with uow_factory() as uow:
        await uow.dns_records.add(record(d))
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.domains.delete("0" * 26, d.id)
        assert await uow.domains.delete(mine, d.id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.domains.get(mine, d.id) is None
        assert await uow.dns_records.all(mine, d.id) == []
