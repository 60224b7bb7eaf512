"""AgentRepository contract: a round trip of the whole definition, ids unique across the platform and every
tenant, who sees which (the platform's stored agents and the tenant's own private ones, never another
tenant's), the compare-and-set of a new version, and tombstones; then ``merge`` over the shipped catalog."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from tesserra_core.domain.agents import (
    Agent,
    AgentLimits,
    InstallationToolRef,
    Sampling,
    StoredAgent,
    agent_catalog,
    merge,
)
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id
from tests.contract.project_entities import seed_tenant


def stored(tenant_id: str | None = None, **changes: Any) -> StoredAgent:
    agent = Agent(
        id=new_id().lower() if tenant_id is None else new_id(),
        version=1,
        vertical="operations",
        name="Agente ünicode",
        description="desc",
        instructions="Siga as regras.\nSempre.",
        model="some-model",
        sampling=Sampling(temperature=0.3, top_p=0.9),
        limits=AgentLimits(max_steps=3, max_tool_calls=4, max_tokens_per_turn=500),
        tools=("list_projects",),
        installation_tools=(InstallationToolRef(entry_id="io.github.x-time", tool="get_current_time"),),
        tenant_id=tenant_id,
    )
    return StoredAgent(agent=msgspec.structs.replace(agent, **changes), created_at=T0, updated_at=T0)


async def _add(uow_factory: UnitOfWorkFactory, *agents: StoredAgent) -> None:
    async with uow_factory() as uow:
        for s in agents:
            await uow.agents.add(s)
        await uow.commit()


async def test_round_trip_and_unique_ids(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    platform, private = stored(), stored(tenant.id)
    await _add(uow_factory, platform, private)

    async with uow_factory(read_only=True) as uow:
        assert await uow.agents.get(platform.agent.id) == platform
        assert await uow.agents.get(private.agent.id) == private
        assert await uow.agents.get("missing") is None
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.agents.add(stored(None, id=platform.agent.id))


async def test_a_tenant_sees_the_platform_and_its_own_never_another_tenants(uow_factory: UnitOfWorkFactory) -> None:
    ours, theirs = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    mine, other = stored(ours.id), stored(theirs.id)
    gone = StoredAgent(agent=stored(ours.id).agent, deleted=True, created_at=T0, updated_at=T0)
    platform = stored()
    await _add(uow_factory, mine, other, gone, platform)

    async with uow_factory(read_only=True) as uow:
        seen = {s.agent.id for s in await uow.agents.visible(ours.id)}
        public = {s.agent.id for s in await uow.agents.visible(None)}
        assert await uow.agents.count_private(ours.id) == 1
        assert await uow.agents.count_private(theirs.id) == 1
    assert {mine.agent.id, gone.agent.id, platform.agent.id} <= seen
    assert other.agent.id not in seen
    assert platform.agent.id in public
    assert not {mine.agent.id, other.agent.id, gone.agent.id} & public


async def test_a_new_version_replaces_only_the_version_it_was_made_from(uow_factory: UnitOfWorkFactory) -> None:
    first = stored()
    await _add(uow_factory, first)
    later = T0 + timedelta(minutes=1)
    second = StoredAgent(
        agent=msgspec.structs.replace(first.agent, version=2, name="v2"), created_at=T0, updated_at=later
    )
    rival = StoredAgent(
        agent=msgspec.structs.replace(first.agent, version=2, name="rival"), created_at=T0, updated_at=later
    )

    async with uow_factory() as uow:
        assert await uow.agents.replace(second, 1)
        assert not await uow.agents.replace(rival, 1)  # the version it read is gone
        assert not await uow.agents.replace(stored(), 1)  # not stored at all
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.agents.get(first.agent.id) == second


async def test_a_removed_agent_is_forgotten(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    s = stored(tenant.id)
    await _add(uow_factory, s)
    async with uow_factory() as uow:
        assert await uow.agents.remove(s.agent.id)
        assert not await uow.agents.remove(s.agent.id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.agents.get(s.agent.id) is None
        assert await uow.agents.count_private(tenant.id) == 0
        assert s.agent.id not in {v.agent.id for v in await uow.agents.visible(tenant.id)}


async def test_a_rolled_back_agent_is_not_stored(uow_factory: UnitOfWorkFactory) -> None:
    s = stored()
    async with uow_factory() as uow:
        await uow.agents.add(s)  # no commit: rolled back when the unit of work ends
    async with uow_factory(read_only=True) as uow:
        assert await uow.agents.get(s.agent.id) is None


def test_merge_keeps_catalog_order_and_the_higher_version_and_drops_tombstones() -> None:
    ops, helpdesk = agent_catalog().agent("ops-assistant"), agent_catalog().agent("helpdesk")
    edited = StoredAgent(
        agent=msgspec.structs.replace(ops, version=ops.version + 1, name="Ops 2"), created_at=T0, updated_at=T0
    )
    older = StoredAgent(agent=msgspec.structs.replace(helpdesk, version=0, name="old"), created_at=T0, updated_at=T0)
    added_late, added_early = stored(), stored()
    added_late = msgspec.structs.replace(added_late, created_at=T0 + timedelta(seconds=1))
    deleted = StoredAgent(agent=stored().agent, deleted=True, created_at=T0, updated_at=T0)

    merged = merge([ops, helpdesk], [added_late, older, edited, added_early, deleted])

    assert [a.id for a in merged] == [ops.id, helpdesk.id, added_early.agent.id, added_late.agent.id]
    assert merged[0].name == "Ops 2"
    assert merged[1] == helpdesk  # a shipped version higher than the stored one wins
    tomb = StoredAgent(agent=msgspec.structs.replace(ops, version=9), deleted=True, created_at=T0, updated_at=T0)
    assert [a.id for a in merge([ops, helpdesk], [tomb])] == [helpdesk.id]
