"""The reconcilers that need only whose a workload is and how it runs ask the runtime's ``statuses`` (on
Docker one listing of the engine) and never ``list`` or ``inspect`` (on Docker one inspection per
container): on a memory runtime with many workloads that counts its calls, the sandbox reaper's stray
removal, the tool servers' reconciling (at start-up and periodic), the provisioner's reconciling and the
metrics scrape each make a fixed number of ``statuses`` calls, whatever the number of workloads, and do
what they did (strays removed, live workloads kept, workloads counted). A tenant's container listing
inspects the tenant's workloads only, not every workload on the node."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import Any

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_adapters.settings import Settings
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import owner_of
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import Workload, WorkloadSpec, WorkloadState, WorkloadStatus
from tesserra_core.ports.telemetry import NoTelemetry
from tesserra_core.usecases.sandbox_views import NewSandbox
from tesserra_core.usecases.status import ServiceMetrics
from tests.unit.helpers import FakeClock, Team

N = 40
"""Strays of each kind: enough that a per-workload call would show."""


class CountedRuntime(MemoryRuntime):
    """The memory runtime, counting the listing and inspection calls made of it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        self.calls["statuses"] += 1
        return await super().statuses(owner_prefix)

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        self.calls["list"] += 1
        return await super().list(owner_prefix)

    async def inspect(self, workload_id: str) -> Workload | None:
        self.calls["inspect"] += 1
        return await super().inspect(workload_id)


@pytest.fixture
async def runtime() -> AsyncIterator[CountedRuntime]:
    counted = CountedRuntime()
    try:
        yield counted
    finally:
        await counted.aclose()


@pytest.fixture
async def uc(settings: Settings, clock: FakeClock, runtime: CountedRuntime) -> AsyncIterator[UseCases]:
    async with AsyncExitStack() as stack:
        yield await build(dataclasses.replace(memory_ports(settings, stack, clock=clock), runtime=runtime), settings)


async def _strays(runtime: MemoryRuntime, kind: str) -> set[str]:
    """``N`` workloads of ``kind`` whose owners do not exist."""
    made = set()
    for i in range(N):
        spec = WorkloadSpec(owner=f"{kind}:gone-{i}", tenant_id="t1", command=("serve",))
        made.add((await runtime.run(spec)).id)
    return made


async def _ids(runtime: MemoryRuntime, prefix: str) -> set[str]:
    return {w.id for w in await MemoryRuntime.list(runtime, prefix)}  # uncounted


async def test_the_sandbox_reaper_removes_strays_with_one_statuses_call(
    uc: UseCases, team: Team, runtime: CountedRuntime
) -> None:
    made = await uc.sandboxes.create(team.member, msgspec.convert({"name": "b", "command": ["cat"]}, NewSandbox))
    kept = await _ids(runtime, owner_of(made.id))
    assert len(kept) == 1
    strays = await _strays(runtime, "sandbox")
    others = await _strays(runtime, "resource")  # not the reaper's
    runtime.calls.clear()

    assert await uc.sandbox_reaper.remove_strays() == N
    assert runtime.calls == Counter(statuses=1)  # no list, no inspection
    assert await _ids(runtime, "sandbox:") == kept
    assert strays.isdisjoint(await _ids(runtime, ""))
    assert others <= await _ids(runtime, "resource:")

    runtime.calls.clear()
    assert await uc.sandbox_reaper.remove_strays() == 0
    assert runtime.calls == Counter(statuses=1)


@pytest.mark.parametrize("full", [True, False])
async def test_the_tool_servers_reconcile_with_statuses_only(uc: UseCases, runtime: CountedRuntime, full: bool) -> None:
    strays = await _strays(runtime, "installation")
    others = await _strays(runtime, "sandbox")
    runtime.calls.clear()

    assert await uc.tool_servers.reconcile(full=full) == (N, 0)
    # the strays, listed once (no owner is live: nothing to list again); the periodic pass lists the
    # workloads once more to see which installations' vanished
    assert runtime.calls == Counter(statuses=1 if full else 2)
    assert await _ids(runtime, "installation:") == set()
    assert strays.isdisjoint(await _ids(runtime, ""))
    assert others <= await _ids(runtime, "sandbox:")


async def test_the_provisioner_reconciles_with_one_statuses_call(
    uc: UseCases, runtime: CountedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    strays = await _strays(runtime, "resource")
    runtime.calls.clear()
    opened = Counter[bool]()
    uow = uc.provisioner.uow

    def counted(*, read_only: bool = False) -> Any:
        opened[read_only] += 1
        return uow(read_only=read_only)

    monkeypatch.setattr(uc.provisioner, "uow", counted)

    await uc.provisioner.reconcile()
    assert runtime.calls == Counter(statuses=1)
    assert opened == Counter({True: 2})  # the unsettled resources, then the workloads' resources: one read each
    assert await _ids(runtime, "resource:") == set()
    assert strays.isdisjoint(await _ids(runtime, ""))


class _Counts(NoTelemetry):
    """Telemetry that keeps the workload counts of the last render."""

    workloads: Mapping[tuple[str, str], int] = {}

    def render(self, workloads: Mapping[tuple[str, str], int], runners: Mapping[str, bool]) -> bytes:
        self.workloads = dict(workloads)
        return b""


async def test_a_metrics_scrape_counts_workloads_with_one_statuses_call(
    uc: UseCases, runtime: CountedRuntime, clock: FakeClock
) -> None:
    await _strays(runtime, "resource")
    stopped = (await runtime.run(WorkloadSpec(owner="sandbox:x", tenant_id="t1", command=("serve",)))).id
    await runtime.stop(stopped)
    telemetry = _Counts()
    metrics = ServiceMetrics(telemetry, runtime, uc.ports.leases, clock, uc.ports.node_id)
    runtime.calls.clear()

    await metrics()
    assert runtime.calls == Counter(statuses=1)
    assert telemetry.workloads == {
        ("memory", WorkloadState.RUNNING.value): N,
        ("memory", WorkloadState.EXITED.value): 1,
    }


async def test_a_tenants_container_listing_inspects_only_its_workloads(
    uc: UseCases, team: Team, runtime: CountedRuntime
) -> None:
    await _strays(runtime, "resource")  # tenant t1's: another tenant's
    tenant = team.owner.tenant_id
    assert tenant != "t1"
    mine = set()
    for owner in ("installation:a", "sandbox:b", "resource:c"):
        mine.add((await runtime.run(WorkloadSpec(owner=owner, tenant_id=tenant, command=("serve",)))).id)
    await runtime.run(WorkloadSpec(owner="pool:d", tenant_id=tenant, command=("serve",)))  # not a managed owner
    runtime.calls.clear()

    listed = await uc.containers.list(team.owner, PageRequest())
    assert {c.id for c in listed.items} == mine
    assert runtime.calls == Counter(statuses=1, inspect=len(mine))
