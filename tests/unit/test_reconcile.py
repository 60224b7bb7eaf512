"""Reconciliation on the memory runtime: strays are removed, live owners without a workload reported."""

from __future__ import annotations

from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadState
from tesserra_core.usecases.reconcile import ReconcileWorkloads


def spec(owner: str) -> WorkloadSpec:
    return WorkloadSpec(owner=owner, tenant_id="t1", command=("serve",))


async def test_strays_are_removed_and_missing_owners_reported() -> None:
    runtime = MemoryRuntime()
    live = await runtime.run(spec("resource:live"))
    stray = await runtime.run(spec("resource:deleted"))
    other_kind = await runtime.run(spec("installation:unknown-to-this-caller"))
    exited = await runtime.run(spec("resource:exited"))
    await runtime.stop(exited.id)

    async def live_owners() -> set[str]:
        return {"resource:live", "resource:exited", "resource:never-started", "installation:elsewhere"}

    result = await ReconcileWorkloads(runtime)("resource:", live_owners)

    assert result.removed == (stray.id,)
    assert result.missing == {"resource:never-started"}  # other kinds are not this call's business
    assert await runtime.inspect(stray.id) is None
    seen = await runtime.inspect(live.id)
    assert seen is not None, live.id
    assert seen.state is WorkloadState.RUNNING
    assert await runtime.inspect(other_kind.id) is not None
    assert await runtime.inspect(exited.id) is not None  # exited, but its owner lives: the caller decides
    await runtime.aclose()


async def test_a_second_pass_finds_nothing_to_do() -> None:
    runtime = MemoryRuntime()
    await runtime.run(spec("resource:a"))
    await runtime.run(spec("resource:b"))

    async def only_a() -> set[str]:
        return {"resource:a"}

    reconcile = ReconcileWorkloads(runtime)
    assert len((await reconcile("resource:", only_a)).removed) == 1
    again = await reconcile("resource:", only_a)
    assert again.removed == ()
    assert again.missing == frozenset()
    await runtime.aclose()


async def test_an_owner_whose_workload_starts_during_the_pass_is_not_missing() -> None:
    runtime = MemoryRuntime()

    async def created_meanwhile() -> set[str]:
        await runtime.run(spec("resource:new"))  # its workload starts after the first listing
        return {"resource:new"}

    result = await ReconcileWorkloads(runtime)("resource:", created_meanwhile)
    assert result.removed == ()
    assert result.missing == frozenset()
    assert len(await runtime.list("resource:")) == 1
    await runtime.aclose()


async def test_the_facade_reconciles_through_the_configured_runtime(uc: UseCases) -> None:
    runtime = uc.ports.runtime
    stray = await runtime.run(spec("sandbox:gone"))

    async def none() -> set[str]:
        return set()

    assert (await uc.reconcile_workloads("sandbox:", none)).removed == (stray.id,)
    assert await runtime.list("sandbox:") == []
