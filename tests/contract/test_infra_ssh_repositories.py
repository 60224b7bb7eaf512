"""The Infra SSH repositories' contract (memory, SQLite, PostgreSQL): hosts round trip, scoped by tenant,
names unique per tenant; the audit chain round trips exactly (its hashes still verify), is queried newest
first with filters, is read back in order in batches, refuses a second record of the same seq, and, tampered
with directly in the store (an edit, a deletion, a reordering, an insertion), names the first bad record."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.sql import schema as t
from tesserra_adapters.system import SystemClock, UlidFactory
from tesserra_core.domain.infra_ssh import Host, HostTier, Outcome
from tesserra_core.domain.infra_ssh_audit import (
    GENESIS,
    HASH,
    ID,
    LINK_FIELDS,
    AuditEvent,
    AuditFilter,
    AuditRecord,
    ChainHead,
    Via,
    link_hash,
    sealed,
    verify_chain,
)
from tesserra_core.domain.infra_ssh_leases import Approval, Lease, LeaseFilter, LeaseState
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.usecases.infra_ssh_audit import AuditTrail, ServerAuthor
from tests.contract.entities import T0, new_id, unique
from tests.contract.project_entities import seed_tenant


def host(tenant_id: str, **changes: Any) -> Host:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "name": unique("web"),
        "address": "10.0.0.7",
        "port": 2222,
        "login": "ops",
        "host_key": "ssh-ed25519 AAAAhost",
        "public_key": "ssh-ed25519 AAAAuser",
        "sealed_key": "v1.sealed",
        "tier": HostTier.PROD,
        "labels": ("db", "eu"),
        "actions": ("uptime", "echo"),
        "forwards": ("127.0.0.1:5432",),
        "max_lease_seconds": 900,
        "approvers_required": 2,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return Host(**values)


def chain(tenant_id: str, n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS
    for i in range(1, n + 1):
        record = sealed(
            AuditRecord(
                id=new_id(),
                tenant_id=tenant_id,
                seq=i,
                at=T0 + timedelta(seconds=i, microseconds=i),
                event=AuditEvent.RUN,
                key_id="key1",
                user_id="alice" if i % 2 else "bob",
                via=Via.REST if i % 3 else Via.MCP,
                host_id="h1",
                host_name="web-1",
                action="echo",
                parameters={"message": f"m{i} é\n", "n": i},
                argv_sha256="a" * 64,
                outcome=Outcome.OK if i % 2 else Outcome.REMOTE_FAILED,
                remote_kind=None if i % 2 else "exit_nonzero",
                exit_status=0 if i % 2 else 1,
                signal=None,
                stdout_sha256="b" * 64,
                stdout_bytes=10**10 + i,
                stderr_sha256=None,
                stderr_bytes=None,
                duration_ms=12,
                run_id=new_id(),
                detail="",
                prev_hash=prev,
                hash="",
            )
        )
        records.append(record)
        prev = record.hash
    return records


async def _append_all(uow_factory: UnitOfWorkFactory, records: list[AuditRecord]) -> None:
    async with uow_factory() as uow:
        for record in records:
            await uow.ssh_audit.append(record)
        await uow.commit()


async def _verify(uow_factory: UnitOfWorkFactory, tenant_id: str, batch: int = 1000) -> Any:
    async with uow_factory(read_only=True) as uow:
        return await verify_chain(uow.ssh_audit.chain(tenant_id, batch))


async def test_hosts_round_trip_scoped_and_unique_by_name(uow_factory: UnitOfWorkFactory) -> None:
    tenant, other = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    h = host(tenant.id)
    async with uow_factory() as uow:
        await uow.ssh_hosts.add(h)
        await uow.ssh_hosts.add(host(other.id, name=h.name))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.ssh_hosts.add(host(tenant.id, name=h.name))
    async with uow_factory(read_only=True) as uow:
        assert await uow.ssh_hosts.get(tenant.id, h.id) == h
        assert await uow.ssh_hosts.get(other.id, h.id) is None
        found, total = await uow.ssh_hosts.list(tenant.id, PageRequest(10, 0))
    assert (found, total) == ([h], 1)
    second = host(tenant.id)
    changed = msgspec.structs.replace(h, port=22, labels=(), updated_at=T0 + timedelta(hours=1))
    async with uow_factory() as uow:
        await uow.ssh_hosts.add(second)
        await uow.ssh_hosts.update(changed)
        with pytest.raises(Conflict):
            await uow.ssh_hosts.update(msgspec.structs.replace(second, name=h.name))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.ssh_hosts.get(tenant.id, h.id) == changed
        assert not await uow.ssh_hosts.remove(other.id, h.id)
        assert await uow.ssh_hosts.remove(tenant.id, h.id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.ssh_hosts.get(tenant.id, h.id) is None


async def test_the_audit_round_trips_and_still_verifies(uow_factory: UnitOfWorkFactory) -> None:
    tenant, other = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    records = chain(tenant.id, 7)
    await _append_all(uow_factory, records)
    await _append_all(uow_factory, chain(other.id, 2))
    async with uow_factory(read_only=True) as uow:
        assert await uow.ssh_audit.last(tenant.id) == records[-1]
        assert await uow.ssh_audit.get(tenant.id, records[0].id) == records[0]
        assert await uow.ssh_audit.get(other.id, records[0].id) is None
        newest, total = await uow.ssh_audit.query(tenant.id, AuditFilter(), PageRequest(3, 1))
        failed, failures = await uow.ssh_audit.query(
            tenant.id, AuditFilter(outcome=Outcome.REMOTE_FAILED, user_id="bob"), PageRequest(50, 0)
        )
        by_run, _ = await uow.ssh_audit.query(tenant.id, AuditFilter(run_id=records[3].run_id), PageRequest(5, 0))
        pages = [page async for page in uow.ssh_audit.chain(tenant.id, batch=3)]
    assert newest == [records[5], records[4], records[3]]
    assert total == 7
    assert failures == 3
    assert [r.seq for r in failed] == [6, 4, 2]
    assert by_run == [records[3]]
    assert [len(page) for page in pages] == [3, 3, 1]
    links = [link for page in pages for link in page]
    assert [(link[ID], link[HASH], link_hash(link)) for link in links] == [(r.id, r.hash, r.hash) for r in records]
    result = await _verify(uow_factory, tenant.id, batch=2)
    assert result.ok
    assert result.checked == 7


async def test_a_seq_is_taken_once(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    first = chain(tenant.id, 1)
    await _append_all(uow_factory, first)
    with pytest.raises(Conflict):
        await _append_all(uow_factory, [msgspec.structs.replace(first[0], id=new_id())])


async def test_a_record_that_does_not_follow_the_head_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    records = chain(tenant.id, 3)
    await _append_all(uow_factory, records[:1])
    with pytest.raises(Conflict):
        await _append_all(uow_factory, records[2:])  # a gap: seq 3 on a chain that ends at 1
    async with uow_factory(read_only=True) as uow:
        assert (await uow.ssh_audit.head(tenant.id)) == ChainHead(1, records[0].hash)


async def test_concurrent_appends_from_two_workers_make_one_chain(uow_factory: UnitOfWorkFactory) -> None:
    """50 appends at once for one tenant, through two trails that each remember the head on their own (two
    workers on one database), after a unit of work that wrote a record rolled back: one chain, 1..51."""
    tenant = await seed_tenant(uow_factory)
    author = ServerAuthor(tenant.id)
    workers = [AuditTrail(uow_factory, SystemClock(), UlidFactory()) for _ in range(2)]
    await workers[0].append(author, Via.REST, AuditEvent.RUN, Outcome.OK, detail="first")
    async with uow_factory() as uow:  # written, never committed: worker 0 remembers a head that is not there
        await workers[0].write(uow, author, Via.REST, AuditEvent.RUN, Outcome.OK, detail="rolled back")
    appends = [
        workers[i % 2].append(author, Via.MCP, AuditEvent.RUN, Outcome.OK, detail=f"n{i}", parameters={"i": i})
        for i in range(50)
    ]
    written = await asyncio.gather(*appends)
    assert sorted(r.seq for r in written) == list(range(2, 52))
    result = await _verify(uow_factory, tenant.id, batch=7)
    assert (result.ok, result.checked) == (True, 51)
    async with uow_factory(read_only=True) as uow:
        details = [link[LINK_FIELDS.index("detail")] async for page in uow.ssh_audit.chain(tenant.id) for link in page]
    assert "rolled back" not in details
    assert sorted(details[1:]) == sorted(f"n{i}" for i in range(50))


async def _tamper(
    uow_factory: UnitOfWorkFactory, engine: AsyncEngine | None, how: str, records: list[AuditRecord]
) -> None:
    """Change the stored chain behind the repositories' back: in the database itself, or the memory store."""
    tenant_id, third, fourth = records[0].tenant_id, records[2], records[3]
    if engine is None:
        assert isinstance(uow_factory, MemoryUnitOfWorkFactory)
        stored = uow_factory.store.ssh_audit[tenant_id]
        if how == "edit":
            stored[2] = msgspec.structs.replace(third, user_id="mallory")
        elif how == "delete":
            del stored[2]
        elif how == "reorder":
            stored[2], stored[3] = msgspec.structs.replace(fourth, seq=3), msgspec.structs.replace(third, seq=4)
        else:
            stored.insert(2, msgspec.structs.replace(third, id="forged"))
            stored[3:] = [msgspec.structs.replace(r, seq=r.seq + 1) for r in stored[3:]]
        return
    a = t.ssh_audit
    async with engine.begin() as conn:
        if how == "edit":
            await conn.execute(update(a).where(a.c.id == third.id).values(user_id="mallory"))
        elif how == "delete":
            await conn.execute(delete(a).where(a.c.id == third.id))
        elif how == "reorder":
            await conn.execute(update(a).where(a.c.id == third.id).values(seq=-1))
            await conn.execute(update(a).where(a.c.id == fourth.id).values(seq=3))
            await conn.execute(update(a).where(a.c.id == third.id).values(seq=4))
        else:
            for r in reversed(records[2:]):
                await conn.execute(update(a).where(a.c.id == r.id).values(seq=r.seq + 1))
            forged = {
                c.name: v
                for c, v in zip(a.c, (await conn.execute(a.select().where(a.c.id == third.id))).one(), strict=True)
            }
            await conn.execute(insert(a).values({**forged, "id": "forged0000000000000000000", "seq": 3}))


@pytest.mark.parametrize(
    ("how", "first_bad"),
    [("edit", (3, 2)), ("delete", (4, 3)), ("reorder", (3, 3)), ("insert", (3, "forged"))],
)
async def test_tampering_names_the_first_bad_record(
    uow_factory: UnitOfWorkFactory, engine: AsyncEngine | None, how: str, first_bad: tuple[int, object]
) -> None:
    tenant = await seed_tenant(uow_factory)
    records = chain(tenant.id, 6)
    await _append_all(uow_factory, records)
    await _tamper(uow_factory, engine, how, records)
    result = await _verify(uow_factory, tenant.id, batch=2)
    assert not result.ok
    seq, which = first_bad
    assert result.first_bad_seq == seq
    expected_id = records[which].id if isinstance(which, int) else None
    if expected_id is not None:
        assert result.first_bad_id == expected_id
    else:
        assert str(result.first_bad_id).startswith("forged")


def lease(tenant_id: str, **changes: Any) -> Lease:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "user_id": "alice@example.com",
        "key_id": "key1",
        "host_ids": (new_id(), new_id()),
        "actions": ("touch_file",),
        "forwards": ("127.0.0.1:5432",),
        "duration_seconds": 600,
        "max_uses": 3,
        "uses": 0,
        "reason": "deploy 4.2",
        "approvers_required": 2,
        "approvals": (),
        "state": LeaseState.PENDING,
        "created_at": T0,
        "starts_at": None,
        "ends_at": None,
        "ended_at": None,
        "ended_by": None,
    }
    values.update(changes)
    return Lease(**values)


async def test_leases_round_trip_scoped_by_tenant_and_found_by_user_and_state(uow_factory: UnitOfWorkFactory) -> None:
    tenant, other = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    first = lease(tenant.id)
    second = lease(tenant.id, created_at=T0 + timedelta(seconds=1))
    bobs = lease(tenant.id, user_id="bob@example.com", created_at=T0 + timedelta(seconds=2))
    async with uow_factory() as uow:
        for each in (first, second, bobs, lease(other.id)):
            await uow.ssh_leases.add(each)
        await uow.commit()
    approval = Approval(user_id="bob@example.com", key_id="key2", at=T0 + timedelta(minutes=1))
    active = first.approved(approval).approved(
        Approval(user_id="carol@example.com", key_id="key3", at=T0 + timedelta(minutes=2))
    )
    assert active.state is LeaseState.ACTIVE
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.ssh_leases.add(first)
    async with uow_factory() as uow:
        await uow.ssh_leases.update(active.used())
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.ssh_leases.get(tenant.id, first.id) == active.used()
        assert await uow.ssh_leases.get(other.id, first.id) is None
        page, total = await uow.ssh_leases.list(tenant.id, PageRequest(2, 0))
        alices = await uow.ssh_leases.of_user(tenant.id, "alice@example.com", LeaseState.ACTIVE)
        pending = await uow.ssh_leases.of_user(tenant.id, "alice@example.com", LeaseState.PENDING)
    assert [x.id for x in page] == [bobs.id, second.id]
    assert total == 3
    assert alices == [active.used()]
    assert pending == [second]


async def test_leases_list_by_person_and_by_state_as_of_a_time(uow_factory: UnitOfWorkFactory) -> None:
    tenant, other = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    end = T0 + timedelta(minutes=10)
    running = lease(tenant.id, state=LeaseState.ACTIVE, starts_at=T0, ends_at=end)
    pending = lease(tenant.id, created_at=T0 + timedelta(seconds=1))
    expired = lease(tenant.id, state=LeaseState.EXPIRED, created_at=T0 + timedelta(seconds=2))
    bobs = lease(
        tenant.id, user_id="bob@example.com", state=LeaseState.ACTIVE, created_at=T0 + timedelta(seconds=3), ends_at=end
    )
    async with uow_factory() as uow:
        for each in (running, pending, expired, bobs, lease(other.id, state=LeaseState.ACTIVE, ends_at=end)):
            await uow.ssh_leases.add(each)
        await uow.commit()

    async def ids(where: LeaseFilter, page: PageRequest = PageRequest(50, 0)) -> tuple[list[str], int]:
        async with uow_factory(read_only=True) as uow:
            found, total = await uow.ssh_leases.list(tenant.id, page, where)
        return [x.id for x in found], total

    before, after = end - timedelta(seconds=1), end
    assert await ids(LeaseFilter()) == ([bobs.id, expired.id, pending.id, running.id], 4)
    assert await ids(LeaseFilter(user_id="alice@example.com")) == ([expired.id, pending.id, running.id], 3)
    assert await ids(LeaseFilter(state=LeaseState.ACTIVE, at=before)) == ([bobs.id, running.id], 2)
    assert await ids(LeaseFilter(state=LeaseState.ACTIVE, at=after)) == ([], 0)
    assert await ids(LeaseFilter(state=LeaseState.EXPIRED, at=after)) == ([bobs.id, expired.id, running.id], 3)
    assert await ids(LeaseFilter(state=LeaseState.EXPIRED, at=before)) == ([expired.id], 1)
    assert await ids(LeaseFilter(state=LeaseState.ACTIVE)) == ([bobs.id, running.id], 2)  # as written
    mine_expired = LeaseFilter(user_id="alice@example.com", state=LeaseState.EXPIRED, at=after)
    assert await ids(mine_expired, PageRequest(1, 1)) == ([running.id], 2)
    assert await ids(LeaseFilter(state=LeaseState.PENDING, at=after)) == ([pending.id], 1)


async def test_a_record_without_a_lease_keeps_the_hash_it_had_before_leases(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    [plain] = chain(tenant.id, 1)
    fields = msgspec.structs.asdict(plain)
    del fields["hash"], fields["lease_id"]
    before = hashlib.sha256(plain.prev_hash.encode() + msgspec.json.encode(fields, order="sorted")).hexdigest()
    assert plain.hash == before
    with_lease = sealed(msgspec.structs.replace(plain, lease_id=new_id()))
    assert with_lease.hash != plain.hash
    await _append_all(uow_factory, [with_lease])
    async with uow_factory(read_only=True) as uow:
        assert await uow.ssh_audit.get(tenant.id, with_lease.id) == with_lease
    assert (await _verify(uow_factory, tenant.id, batch=10)).ok


async def test_revoked_leases_are_found_until_their_end(uow_factory: UnitOfWorkFactory) -> None:
    tenant, other = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    end = T0 + timedelta(hours=1)
    running = lease(tenant.id, state=LeaseState.REVOKED, ends_at=end)
    ended = lease(tenant.id, state=LeaseState.REVOKED, ends_at=T0)
    active = lease(tenant.id, state=LeaseState.ACTIVE, ends_at=end)
    elsewhere = lease(other.id, state=LeaseState.REVOKED, ends_at=end)
    async with uow_factory() as uow:
        for each in (running, ended, active, elsewhere):
            await uow.ssh_leases.add(each)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.ssh_leases.revoked_before_end(tenant.id, T0 + timedelta(minutes=1)) == [running]
        assert await uow.ssh_leases.revoked_before_end(tenant.id, end) == []
