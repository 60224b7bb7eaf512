"""Domain, DNS record, mailbox, alias and project file repositories: the same contract on memory,
SQLite and PostgreSQL (tenant scoping, platform-wide uniqueness, the atomic serial, pages)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from tesserra_core.domain.domains import DnsRecord, Domain, RecordType, VerificationStatus
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, tenant


async def a_tenant(uow_factory: UnitOfWorkFactory) -> str:
    t = tenant()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    return t.id


def domain(tenant_id: str, **changes: Any) -> Domain:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "name": f"d{uuid.uuid4().hex[:12]}.com.br",
        "default_ttl": 3600,
        "serial": 2025030400,
        "verification_token": uuid.uuid4().hex,
        "verification_status": VerificationStatus.PENDING,
        "verified_at": None,
        "last_checked_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    return Domain(**{**values, **changes})


def record(d: Domain, **changes: Any) -> DnsRecord:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": d.tenant_id,
        "domain_id": d.id,
        "name": "www",
        "type": RecordType.A,
        "ttl": 300,
        "data": "192.0.2.1",
        "created_at": T0,
        "updated_at": T0,
    }
    return DnsRecord(**{**values, **changes})


async def add_domain(uow_factory: UnitOfWorkFactory, d: Domain) -> Domain:
    async with uow_factory() as uow:
        await uow.domains.add(d)
        await uow.commit()
    return d


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


def mailbox(d: Domain, **changes: Any) -> Mailbox:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": d.tenant_id,
        "domain_id": d.id,
        "address": f"u{uuid.uuid4().hex[:8]}@{d.name}",
        "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        "quota_bytes": 1024**3,
        "created_at": T0,
        "updated_at": T0,
    }
    return Mailbox(**{**values, **changes})


def alias(d: Domain, **changes: Any) -> EmailAlias:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": d.tenant_id,
        "domain_id": d.id,
        "source": f"a{uuid.uuid4().hex[:8]}@{d.name}",
        "destinations": ("x@example.org", f"y@{d.name}"),
        "created_at": T0,
        "updated_at": T0,
    }
    return EmailAlias(**{**values, **changes})


async def test_mailboxes_round_trip_unique_and_scoped(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    boxes = sorted((mailbox(d) for _ in range(3)), key=lambda m: m.address)
    async with uow_factory() as uow:
        for m in boxes:
            await uow.mailboxes.add(m)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.mailboxes.add(mailbox(d, address=boxes[0].address))
    changed = mailbox(d, id=boxes[1].id, address=boxes[1].address, quota_bytes=5, password_hash="new")
    async with uow_factory() as uow:
        await uow.mailboxes.update(changed)
        assert await uow.mailboxes.get(theirs, boxes[0].id) is None
        assert not await uow.mailboxes.delete(theirs, boxes[0].id)
        assert await uow.mailboxes.delete(mine, boxes[2].id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.mailboxes.get(mine, boxes[1].id) == changed
        assert await uow.mailboxes.get_by_address(boxes[0].address) == boxes[0]
        page, total = await uow.mailboxes.list(mine, PageRequest(500, 0))
        assert (page, total) == ([boxes[0], changed], 2)
        assert await uow.mailboxes.count(mine) == 2
        assert await uow.mailboxes.count_for_domain(mine, d.id) == 2
        assert await uow.mailboxes.count_for_domain(theirs, d.id) == 0
        assert (await uow.mailboxes.list(theirs, PageRequest()))[1] == 0


async def test_aliases_round_trip_unique_and_scoped(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    made = sorted((alias(d) for _ in range(3)), key=lambda a: a.source)
    async with uow_factory() as uow:
        for a in made:
            await uow.email_aliases.add(a)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.email_aliases.add(alias(d, source=made[0].source))
    changed = alias(d, id=made[1].id, source=made[1].source, destinations=("only@example.org",))
    async with uow_factory() as uow:
        await uow.email_aliases.update(changed)
        assert await uow.email_aliases.get(theirs, made[0].id) is None
        assert not await uow.email_aliases.delete(theirs, made[0].id)
        assert await uow.email_aliases.delete(mine, made[2].id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.email_aliases.get(mine, made[1].id) == changed
        assert await uow.email_aliases.get_by_source(made[0].source) == made[0]
        assert await uow.email_aliases.all(mine) == [made[0], changed]
        assert await uow.email_aliases.all(theirs) == []
        page, total = await uow.email_aliases.list(mine, PageRequest(1, 1))
        assert (page, total) == ([changed], 2)
        assert await uow.email_aliases.count_for_domain(mine, d.id) == 2


def project_file(tenant_id: str, project_id: str, **changes: Any) -> ProjectFile:
    file_id = new_id()
    values: dict[str, Any] = {
        "id": file_id,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "name": f"relatório {uuid.uuid4().hex[:6]}.pdf",
        "size": 1234,
        "sha256": "ab" * 32,
        "content_type": "application/pdf",
        "storage_key": f"{tenant_id}/{project_id}/{file_id}",
        "created_at": T0,
    }
    return ProjectFile(**{**values, **changes})


async def test_project_files_round_trip_unique_per_project_and_sum_per_tenant(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    project, other_project = new_id(), new_id()
    files = sorted((project_file(mine, project, size=10 * (i + 1)) for i in range(3)), key=lambda f: f.name)
    elsewhere = project_file(mine, other_project, name=files[0].name, size=1000)
    async with uow_factory() as uow:
        for f in [*files, elsewhere, project_file(theirs, new_id(), size=7)]:
            await uow.project_files.add(f)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.project_files.add(project_file(mine, project, name=files[1].name))
    async with uow_factory() as uow:
        assert await uow.project_files.get(mine, project, files[0].id) == files[0]
        assert await uow.project_files.get(theirs, project, files[0].id) is None
        assert await uow.project_files.get(mine, other_project, files[0].id) is None
        assert await uow.project_files.get_by_name(mine, project, files[2].name) == files[2]
        assert await uow.project_files.list(mine, project, PageRequest(500, 0)) == (files, 3)
        assert await uow.project_files.used_bytes(mine) == 10 + 20 + 30 + 1000
        assert await uow.project_files.used_bytes(new_id()) == 0
        assert not await uow.project_files.delete(theirs, project, files[0].id)
        assert await uow.project_files.delete(mine, project, files[0].id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.project_files.used_bytes(mine) == sum(f.size for f in files[1:]) + 1000


async def test_forgetting_a_projects_files_hands_back_their_keys(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    project, kept_project = new_id(), new_id()
    gone = [project_file(mine, project) for _ in range(2)]
    kept = project_file(mine, kept_project)
    async with uow_factory() as uow:
        for f in [*gone, kept]:
            await uow.project_files.add(f)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.project_files.delete_project(new_id(), project) == []
        keys = await uow.project_files.delete_project(mine, project)
        await uow.commit()
    assert sorted(keys) == sorted(f.storage_key for f in gone)
    async with uow_factory(read_only=True) as uow:
        assert await uow.project_files.list(mine, project, PageRequest()) == ([], 0)
        assert await uow.project_files.used_bytes(mine) == kept.size
