"""SandboxRepository contract: round trip (template, events and proxy epoch intact), tenant scoping, pages newest
first without the deleted (narrowed to a state), counts, compare-and-set updates, and the due, unsettled and live ones
across tenants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import (
    Cause,
    OnIdle,
    OnTtl,
    Sandbox,
    SandboxAction,
    SandboxState,
    SandboxTemplate,
)
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, unique
from tests.contract.project_entities import seed_tenant

FAR = T0 + timedelta(days=3650)


def sandbox(tenant_id: str, **changes: Any) -> Sandbox:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "owner_id": new_id(),
        "name": unique("box"),
        "template": SandboxTemplate(
            image="python:3.12-slim",
            command=("python", "-m", "http.server", "8000"),
            ports=(8000,),
            env={"A": "1", "EMPTY": ""},
            memory_mb=256,
            cpus=0.5,
            network=False,
        ),
        "state": SandboxState.RUNNING,
        "state_reason": "",
        "generation": 1,
        "workload_id": "wl-1",
        "ttl_seconds": 3600,
        "on_ttl": OnTtl.STOP,
        "idle_timeout_seconds": None,
        "on_idle": OnIdle.PAUSE,
        "expires_at": FAR,
        "idle_expires_at": None,
        "last_activity_at": T0,
        "events": (),
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
    }
    return Sandbox(**{**values, **changes})


async def _add(uow_factory: UnitOfWorkFactory, *sandboxes: Sandbox) -> None:
    async with uow_factory() as uow:
        for s in sandboxes:
            await uow.sandboxes.add(s)
        await uow.commit()


async def test_round_trip_keeps_every_field(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    s = sandbox(
        t.id, idle_timeout_seconds=60, idle_expires_at=T0 + timedelta(seconds=60), state_reason="why", proxy_epoch=3
    )
    s = s.moved(SandboxState.PAUSED, Cause.IDLE, T0 + timedelta(seconds=61), action=SandboxAction.PAUSE, detail="idle")
    await _add(uow_factory, s)
    async with uow_factory(read_only=True) as uow:
        assert await uow.sandboxes.get(t.id, s.id) == s
        assert await uow.sandboxes.find(s.id) == s
    assert s.events[-1].cause is Cause.IDLE
    revoked = msgspec.structs.replace(s, proxy_epoch=4, updated_at=s.updated_at + timedelta(seconds=1))
    async with uow_factory() as uow:
        assert await uow.sandboxes.update(revoked, if_updated_at=s.updated_at) is True
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        found = await uow.sandboxes.get(t.id, s.id)
    assert found is not None
    assert found.proxy_epoch == 4


async def test_revoked_tokens_round_trip_and_expire_from_the_list(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    s = sandbox(t.id)
    await _add(uow_factory, s)
    day = timedelta(days=1)
    first = s.revoking("tok-1", T0 + day, T0)
    second = first.revoking("tok-2", T0 + 2 * day, T0 + timedelta(hours=1))
    async with uow_factory() as uow:
        assert await uow.sandboxes.update(second, if_updated_at=s.updated_at) is True
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        found = await uow.sandboxes.get(t.id, s.id)
    assert found == second
    assert found.revoked("tok-1")
    assert found.revoked("tok-2")
    assert not found.revoked("tok-3")
    later = found.revoking("tok-3", T0 + 3 * day, T0 + day)  # tok-1 could no longer be used: dropped
    assert [r.token_id for r in later.revoked_tokens] == ["tok-2", "tok-3"]
    assert [r.token_id for r in later.revoking("tok-2", T0 + 3 * day, T0 + day).revoked_tokens] == ["tok-3", "tok-2"]


async def test_another_tenants_sandbox_is_invisible(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    other = await seed_tenant(uow_factory)
    s = sandbox(t.id)
    await _add(uow_factory, s)
    async with uow_factory() as uow:
        assert await uow.sandboxes.get(other.id, s.id) is None
        assert await uow.sandboxes.list(other.id, PageRequest()) == ([], 0)
        assert await uow.sandboxes.count(other.id) == 0
        assert await uow.sandboxes.update(msgspec.structs.replace(s, tenant_id=other.id, name="x")) is False
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.sandboxes.get(t.id, s.id) == s


async def test_pages_newest_first_without_the_deleted(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    ids = sorted({new_id() for _ in range(3)})
    first, second, third = (sandbox(t.id, id=i) for i in ids)
    gone = sandbox(t.id, state=SandboxState.DELETED)
    await _add(uow_factory, first, second, third, gone)
    async with uow_factory(read_only=True) as uow:
        assert await uow.sandboxes.count(t.id) == 3
        page, total = await uow.sandboxes.list(t.id, PageRequest(limit=2))
        assert [s.id for s in page] == [third.id, second.id]
        assert total == 3
        rest, total = await uow.sandboxes.list(t.id, PageRequest(limit=2, offset=2))
        assert [s.id for s in rest] == [first.id]
        assert total == 3


async def test_a_page_narrowed_to_one_state(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    other = await seed_tenant(uow_factory)
    ids = sorted({new_id() for _ in range(3)})
    old, new = (sandbox(t.id, id=i, state=SandboxState.PAUSED) for i in ids[:2])
    running = sandbox(t.id, id=ids[2])
    theirs = sandbox(other.id, state=SandboxState.PAUSED)
    gone = sandbox(t.id, state=SandboxState.DELETED)
    await _add(uow_factory, old, new, running, theirs, gone)
    async with uow_factory(read_only=True) as uow:
        page, total = await uow.sandboxes.list(t.id, PageRequest(limit=1), SandboxState.PAUSED)
        assert ([s.id for s in page], total) == ([new.id], 2)
        assert await uow.sandboxes.list(t.id, PageRequest(), SandboxState.RUNNING) == ([running], 1)
        assert await uow.sandboxes.list(t.id, PageRequest(), SandboxState.STOPPED) == ([], 0)
        assert await uow.sandboxes.list(t.id, PageRequest(), SandboxState.DELETED) == ([], 0)


async def test_update_compares_and_sets_on_updated_at(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    s = sandbox(t.id)
    await _add(uow_factory, s)
    stopped = s.moved(SandboxState.STOPPED, Cause.REQUEST, T0 + timedelta(seconds=5), action=SandboxAction.STOP)
    async with uow_factory() as uow:
        assert await uow.sandboxes.update(stopped, if_updated_at=s.updated_at) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.sandboxes.update(s, if_updated_at=s.updated_at) is False
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.sandboxes.get(t.id, s.id) == stopped


async def test_due_unsettled_and_live_across_tenants(uow_factory: UnitOfWorkFactory) -> None:
    t = await seed_tenant(uow_factory)
    u = await seed_tenant(uow_factory)
    now = T0 + timedelta(hours=2)
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    expired = sandbox(t.id, expires_at=past)
    idle = sandbox(u.id, idle_timeout_seconds=10, idle_expires_at=past, expires_at=FAR)
    stopped_keep = sandbox(t.id, state=SandboxState.STOPPED, expires_at=past)  # on_ttl stop: nothing to do
    stopped_delete = sandbox(t.id, state=SandboxState.STOPPED, expires_at=past, on_ttl=OnTtl.DELETE)
    paused_idle = sandbox(t.id, state=SandboxState.PAUSED, idle_expires_at=past, expires_at=future)
    deleting = sandbox(t.id, state=SandboxState.DELETING, expires_at=past, on_ttl=OnTtl.DELETE)
    deleted = sandbox(t.id, state=SandboxState.DELETED, expires_at=past, on_ttl=OnTtl.DELETE)
    fine = sandbox(t.id, expires_at=future, idle_expires_at=future)
    creating = sandbox(u.id, state=SandboxState.CREATING)
    every = (expired, idle, stopped_keep, stopped_delete, paused_idle, deleting, deleted, fine, creating)
    await _add(uow_factory, *every)
    mine = {s.id for s in every}
    async with uow_factory(read_only=True) as uow:
        due = {s.id for s in await uow.sandboxes.due(now, limit=10_000) if s.id in mine}
        unsettled = {s.id for s in await uow.sandboxes.unsettled() if s.id in mine}
        live = {s.id for s in await uow.sandboxes.live() if s.id in mine}
    assert due == {expired.id, idle.id, stopped_delete.id}
    assert all(s.due(now) is not None for s in every if s.id in due)
    assert unsettled == {deleting.id, creating.id}
    assert live == mine - {deleted.id}
