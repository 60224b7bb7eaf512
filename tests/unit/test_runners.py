"""``UseCases.running``: the one block every driver enters for the background runners it needs."""

from __future__ import annotations

from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_core.domain.resources import owner_of
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import WorkloadSpec
from tesserra_core.usecases.api_keys import NewApiKey
from tests.unit.helpers import FakeClock, Team


def runtime(uc: UseCases) -> MemoryRuntime:
    rt = uc.ports.runtime
    assert isinstance(rt, MemoryRuntime)
    return rt


async def _strays(uc: UseCases, team: Team) -> tuple[str, str]:
    """A resource's and an installation's workloads whose rows are gone, as a crash leaves them."""
    resource = await runtime(uc).run(WorkloadSpec(owner=owner_of("01gone"), tenant_id=team.tenant_id, command=()))
    tool = await runtime(uc).run(WorkloadSpec(owner="installation:01gone", tenant_id=team.tenant_id, command=()))
    return resource.id, tool.id


async def _last_used(uc: UseCases, team: Team, key_id: str) -> object:
    async with uc.ports.uow(read_only=True) as uow:
        key = await uow.api_keys.get(team.tenant_id, key_id)
    assert key is not None
    return key.last_used_at


async def test_a_server_reconciles_workloads_at_start_and_writes_key_use_at_the_end(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    strays = await _strays(uc, team)
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="used"))

    async with uc.running():
        for workload_id in strays:  # the provisioner and the tool servers both reconciled
            assert await runtime(uc).inspect(workload_id) is None, workload_id
        await uc.authenticate(minted.key)
        used_at = clock.now()
        clock.advance(1)  # well under the watcher's write-behind period: the end of the block writes it

    assert await _last_used(uc, team, minted.api_key.id) == used_at


async def test_a_guest_leaves_the_servers_workloads_alone_but_watches_and_writes_key_use(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    strays = await _strays(uc, team)
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="used"))

    async with uc.running(guest=True):
        await uc.authenticate(minted.key)
        used_at = clock.now()
        clock.advance(1)

    for workload_id in strays:  # a server sharing the store owns them
        assert await runtime(uc).inspect(workload_id) is not None, workload_id
    assert await _last_used(uc, team, minted.api_key.id) == used_at
