"""The warm pool on the memory adapters: off by default; on, a create from a template the pool has
learned claims a paused workload made ahead of time, which becomes the sandbox's (its owner and
tenant, running), while the sandbox is recorded exactly as a cold create records it; the pool refills,
never hands out a workload twice, serves another template cold, and leaves nothing behind."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.sandboxes import owner_of
from tesserra_core.errors import NotFound, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sandbox_lifecycle import workload_spec
from tesserra_core.usecases.sandbox_pool import BETWEEN, POOL_OWNER
from tesserra_core.usecases.sandbox_views import NewSandbox, SandboxView
from tests.support import eventually
from tests.unit.conftest import make_team
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, FakeClock, sign_in

SIZE = 2


def new(**fields: Any) -> NewSandbox:
    return msgspec.convert({"name": "box", "command": ["sleep", "60"], "ports": [8000], **fields}, NewSandbox)


@pytest.fixture
async def pooled(settings: Settings, clock: FakeClock) -> AsyncIterator[UseCases]:
    pooled_settings = msgspec.structs.replace(settings, sandbox_pool_size=SIZE)
    async with AsyncExitStack() as stack:
        uc = await build(memory_ports(pooled_settings, stack, clock=clock), pooled_settings)
        uc.sandbox_pool.warm_within = 0.05  # the memory runtime's workloads serve no HTTP
        async with uc.sandbox_pool.running():
            yield uc


async def _admin(uc: UseCases) -> Principal:
    await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    return (await sign_in(uc, ADMIN_EMAIL))[1]


async def _warm(uc: UseCases, count: int = SIZE) -> list[str]:
    async def filled() -> list[str] | None:
        waiting = [w for w in await uc.ports.runtime.list(POOL_OWNER) if w.paused]
        return [w.id for w in waiting] if len(waiting) >= count else None

    return await eventually(filled, within=10)


def _shape(box: SandboxView) -> list[tuple[Any, ...]]:
    return [(e.previous, e.state, e.cause, e.action, e.detail) for e in box.events]


async def test_without_a_size_there_is_no_pool(uc: UseCases, admin: Principal) -> None:
    team = await make_team(uc, admin)
    for _ in range(2):
        await uc.sandboxes.create(team.member, new())
    assert await uc.ports.runtime.list(POOL_OWNER) == []


async def test_a_create_claims_a_warm_workload_made_for_its_template(pooled: UseCases) -> None:
    uc = pooled
    admin = await _admin(uc)
    team, other = await make_team(uc, admin), await make_team(uc, admin)
    cold = await uc.sandboxes.create(team.member, new())  # the pool learns the template
    warm_ids = await _warm(uc)
    for workload in await uc.ports.runtime.list(POOL_OWNER):
        assert workload.tenant_id == ""  # no tenant's until claimed
    claimed = await uc.sandboxes.create(other.member, new(name="warm"))
    [workload] = await uc.ports.runtime.list(owner_of(claimed.id))
    assert workload.id in warm_ids
    assert workload.tenant_id == other.tenant_id
    assert not workload.paused
    assert await uc.sandboxes.get(other.owner, claimed.id) == claimed
    with pytest.raises(NotFound):
        await uc.sandboxes.get(team.owner, claimed.id)
    assert claimed.owner_id == other.member.user_id
    assert claimed.generation == cold.generation == 1
    assert claimed.state == cold.state
    assert _shape(claimed) == _shape(cold)  # the same events as a cold create
    assert (claimed.expires_at - claimed.created_at) == (cold.expires_at - cold.created_at)
    # the pool refills; a pooled workload is never handed out twice
    seen = {workload.id}
    for n in range(4):
        await _warm(uc)
        box = await uc.sandboxes.create(team.member, new(name=f"again-{n}"))
        [mine] = await uc.ports.runtime.list(owner_of(box.id))
        assert mine.id not in seen
        seen.add(mine.id)
        await uc.sandboxes.delete(team.member, box.id)  # the plan holds 3
    # another template starts cold (and is learned in turn)
    other_template = await uc.sandboxes.create(team.member, new(name="other", command=["sleep", "61"]))
    [cold_one] = await uc.ports.runtime.list(owner_of(other_template.id))
    assert cold_one.id not in warm_ids
    # a deleted claimed sandbox takes its workload along
    await uc.sandboxes.delete(other.member, claimed.id)
    assert workload.id not in {w.id for w in await uc.ports.runtime.list()}


async def test_the_pool_leaves_nothing_behind(settings: Settings, clock: FakeClock) -> None:
    pooled_settings = msgspec.structs.replace(settings, sandbox_pool_size=SIZE)
    async with AsyncExitStack() as stack:
        uc = await build(memory_ports(pooled_settings, stack, clock=clock), pooled_settings)
        uc.sandbox_pool.warm_within = 0.05
        async with uc.sandbox_pool.running():
            team = await make_team(uc, await _admin(uc))
            await uc.sandboxes.create(team.member, new())
            await _warm(uc)
        assert await uc.ports.runtime.list(POOL_OWNER) == []
        # a previous run's pooled workloads are removed when the next starts
        leftover = await uc.ports.runtime.run(
            msgspec.structs.replace(await _spec_of(uc, team.member), owner=f"{POOL_OWNER}old-run:x:1", tenant_id="")
        )
        async with uc.sandbox_pool.running():
            assert leftover.id not in {w.id for w in await uc.ports.runtime.list()}


async def _spec_of(uc: UseCases, who: Principal) -> Any:
    box = await uc.sandboxes.create(who, new(name="spec"))
    async with uc.ports.uow(read_only=True) as uow:
        stored = await uow.sandboxes.find(box.id)
    assert stored is not None
    return workload_spec(stored)


@pytest.fixture
async def per_tenant(settings: Settings, clock: FakeClock) -> AsyncIterator[UseCases]:
    """The pool on a runtime that binds a workload to its tenant when made (as Docker does)."""
    pooled_settings = msgspec.structs.replace(settings, sandbox_pool_size=SIZE)
    runtime = MemoryRuntime()
    runtime.pools_per_tenant = True
    async with AsyncExitStack() as stack:
        stack.push_async_callback(runtime.aclose)
        uc = await build(memory_ports(pooled_settings, stack, clock=clock, runtime=runtime), pooled_settings)
        uc.sandbox_pool.warm_within = 0.05
        async with uc.sandbox_pool.running():
            yield uc


async def _waiting(uc: UseCases, tenant_id: str) -> set[str]:
    return {w.id for w in await uc.ports.runtime.list(POOL_OWNER) if w.tenant_id == tenant_id and w.paused}


async def test_per_tenant_pools_never_hand_one_tenants_workload_to_another(per_tenant: UseCases) -> None:
    uc = per_tenant
    admin = await _admin(uc)
    team, other = await make_team(uc, admin), await make_team(uc, admin)
    await uc.sandboxes.create(team.member, new())  # the pool learns the template for this tenant only
    warm_ids = set(await _warm(uc))
    assert {w.tenant_id for w in await uc.ports.runtime.list(POOL_OWNER)} == {team.tenant_id}
    theirs = await uc.sandboxes.create(other.member, new(name="theirs"))  # cold: none is theirs yet
    [cold] = await uc.ports.runtime.list(owner_of(theirs.id))
    assert cold.id not in warm_ids
    assert await _waiting(uc, team.tenant_id) == warm_ids  # untouched
    await eventually(functools.partial(_at_least, uc, other.tenant_id, SIZE), within=10)  # now theirs fills
    for n in range(2):
        for member, tenant in ((other.member, other.tenant_id), (team.member, team.tenant_id)):
            before = await _waiting(uc, tenant)
            box = await uc.sandboxes.create(member, new(name=f"warm-{n}"))
            [workload] = await uc.ports.runtime.list(owner_of(box.id))
            assert workload.id in before  # claimed from its own tenant's pool
            assert workload.tenant_id == tenant
            await uc.sandboxes.delete(member, box.id)
            await eventually(functools.partial(_at_least, uc, tenant, SIZE), within=10)


async def _at_least(uc: UseCases, tenant_id: str, count: int) -> bool:
    return len(await _waiting(uc, tenant_id)) >= count


async def test_per_tenant_pools_are_bounded_and_drained_when_idle(per_tenant: UseCases) -> None:
    uc = per_tenant
    uc.sandbox_pool.per_tenant = 1
    team = await make_team(uc, await _admin(uc))
    await uc.sandboxes.create(team.member, new())
    first = set(await _warm(uc))
    await uc.sandboxes.create(team.member, new(name="other", command=["sleep", "61"]))  # its second template

    async def replaced() -> bool:
        waiting = await _waiting(uc, team.tenant_id)
        return len(waiting) == SIZE and not waiting & first

    await eventually(replaced, within=10)  # one template per tenant: the first's workloads are gone
    assert not first & {w.id for w in await uc.ports.runtime.list()}
    uc.sandbox_pool.idle_after = 0.2
    await uc.sandboxes.delete(
        team.member, (await uc.sandboxes.create(team.member, new(name="x", command=["sleep", "61"]))).id
    )

    async def drained() -> bool:
        return not await uc.ports.runtime.list(POOL_OWNER)

    await eventually(drained, within=15)


async def test_per_tenant_pools_resume_a_workload_while_its_sandbox_is_recorded(per_tenant: UseCases) -> None:
    """On such a runtime a create reserves a ready workload and resumes it while the sandbox's row is
    written; the claim then only hands it over. One no sandbox took goes back to its pool, paused."""
    uc = per_tenant
    team = await make_team(uc, await _admin(uc))
    spec = await _spec_of(uc, team.member)  # the pool learns the template
    await eventually(functools.partial(_at_least, uc, team.tenant_id, SIZE), within=10)
    reserved = uc.sandbox_pool.reserve(spec)
    assert reserved is not None
    assert uc.sandbox_pool.ready(spec) == SIZE - 1  # taken: no other create gets it
    woken = await reserved.waking
    assert woken.id == reserved.workload_id
    assert not woken.paused
    [workload] = [w for w in await uc.ports.runtime.list(POOL_OWNER) if w.id == reserved.workload_id]
    assert workload.owner.startswith(POOL_OWNER)  # still the pool's until a recorded sandbox claims it
    uc.sandbox_pool.release(reserved)  # its create failed: paused again and back

    async def back() -> bool:
        return reserved.workload_id in await _waiting(uc, team.tenant_id)

    await eventually(back, within=10)
    assert uc.sandbox_pool.ready(spec) == SIZE
    box = await uc.sandboxes.create(team.member, new(name="after"))
    [mine] = await uc.ports.runtime.list(owner_of(box.id))
    assert mine.id == reserved.workload_id  # put back first in line
    assert box.state == "running"
    assert not mine.paused
    assert mine.tenant_id == team.tenant_id


async def test_a_reserved_workload_is_handed_only_to_its_own_tenant(per_tenant: UseCases) -> None:
    """A claim adopts the reserved workload only for the tenant it was made for (else it is removed and
    the sandbox starts from another); one gone meanwhile is replaced the same way."""
    uc = per_tenant
    admin = await _admin(uc)
    team, other = await make_team(uc, admin), await make_team(uc, admin)
    spec = await _spec_of(uc, team.member)
    await eventually(functools.partial(_at_least, uc, team.tenant_id, SIZE), within=10)
    reserved = uc.sandbox_pool.reserve(spec)
    assert reserved is not None
    theirs = await uc.sandboxes.create(other.member, new(name="theirs"))  # cold: the pool knows not their pair
    async with uc.ports.uow(read_only=True) as uow:
        stored = await uow.sandboxes.find(theirs.id)
    assert stored is not None
    with pytest.raises(ValidationFailed):
        await uc.ports.runtime.adopt(reserved.workload_id, owner_of(stored.id), other.tenant_id)
    claimed = await uc.sandbox_pool.claim(stored, workload_spec(stored), reserved)
    assert claimed is None or claimed.id != reserved.workload_id
    assert reserved.workload_id not in await _ids(uc, [reserved.workload_id])  # removed, not handed over
    # a reserved workload removed before its claim: the create runs all the same
    assert uc.sandbox_pool.ready(spec) == SIZE - 1  # the other one waits still
    gone = uc.sandbox_pool.reserve(spec)
    assert gone is not None
    await gone.waking
    await uc.ports.runtime.remove(gone.workload_id)
    await uc.sandboxes.delete(team.member, (await uc.sandboxes.create(team.member, new(name="refill"))).id)
    await eventually(functools.partial(_at_least, uc, team.tenant_id, SIZE), within=10)
    box = await uc.sandboxes.create(team.member, new(name="anyway"))
    async with uc.ports.uow(read_only=True) as uow:
        mine = await uow.sandboxes.find(box.id)
    assert mine is not None
    before = await _waiting(uc, team.tenant_id)
    claimed = await uc.sandbox_pool.claim(mine, workload_spec(mine), gone)
    assert claimed is not None
    assert claimed.id in before
    assert claimed.owner == owner_of(mine.id)
    assert not claimed.paused


async def _ids(uc: UseCases, ids: list[str]) -> set[str]:
    return {w.id for w in await uc.ports.runtime.list()} & set(ids)


async def test_a_refill_leaves_a_pause_after_each_workload_it_made_ready(per_tenant: UseCases) -> None:
    """A create that waited for the pool claims the workload just made ready while the next one is not
    yet being made (on Docker, a container create and start that would slow the claim down)."""
    uc = per_tenant
    team = await make_team(uc, await _admin(uc))
    await uc.sandboxes.create(team.member, new())
    await eventually(functools.partial(_at_least, uc, team.tenant_id, SIZE), within=10)
    first, second = sorted(
        (w.started_at for w in await uc.ports.runtime.list(POOL_OWNER) if w.started_at is not None),
    )
    assert (second - first).total_seconds() >= BETWEEN
