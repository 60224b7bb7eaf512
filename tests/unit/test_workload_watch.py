"""A node's workloads that change by themselves reach the shared state (``WorkloadWatch``), on the memory
adapters with this node's runtime recorded as in a server: a sandbox's workload that exits on its own is
recorded exited (what other nodes show) and the sandbox moves to error with its exit code at the next
round; a quiet round writes nothing and costs one ``statuses`` call (no list, no inspection, no read of a
record); a workload removed between the statuses and its inspection is skipped; and a sandbox whose
workload another node recorded is not taken for gone by a node whose runtime cannot see it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.runtime.memory import MemoryIO, MemoryRuntime
from tesserra_adapters.runtime.recorded import NodeRecordedRuntime
from tesserra_adapters.settings import Settings
from tesserra_core.domain.sandboxes import Sandbox, SandboxState, owner_of
from tesserra_core.facade import UseCases
from tesserra_core.ports.nodes import NodeWorkload
from tesserra_core.ports.runtime import Workload, WorkloadState, WorkloadStatus
from tesserra_core.usecases.sandbox_views import NewSandbox
from tests.unit.helpers import FakeClock, Team

EXIT = 3
_exit_now = asyncio.Event()


async def _exits_when_told(io: MemoryIO) -> int:
    await _exit_now.wait()
    return EXIT


class CountedRuntime(MemoryRuntime):
    """The memory runtime, counting the calls a watch round makes; ``vanish`` is removed right after the
    next ``statuses`` answers (as if removed meanwhile)."""

    def __init__(self) -> None:
        super().__init__(_exits_when_told)
        self.calls: Counter[str] = Counter()
        self.vanish: str | None = None

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        self.calls["statuses"] += 1
        answer = await super().statuses(owner_prefix)
        if self.vanish is not None:
            await self.remove(self.vanish)
        return answer

    async def inspect(self, workload_id: str) -> Workload | None:
        self.calls["inspect"] += 1
        return await super().inspect(workload_id)

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        self.calls["list"] += 1
        return await super().list(owner_prefix)


@pytest.fixture
async def uc(settings: Settings, clock: FakeClock) -> AsyncIterator[UseCases]:
    _exit_now.clear()
    async with AsyncExitStack() as stack:
        ports = memory_ports(settings, stack, clock=clock)
        runtime = NodeRecordedRuntime(CountedRuntime(), ports.nodes, ports.node_id)
        yield await build(dataclasses.replace(ports, runtime=runtime), settings)


async def _sandbox(uc: UseCases, team: Team) -> str:
    made = await uc.sandboxes.create(team.member, msgspec.convert({"name": "b", "command": ["cat"]}, NewSandbox))
    return made.id


async def test_a_workload_that_exits_by_itself_is_recorded_and_its_sandbox_errs(uc: UseCases, team: Team) -> None:
    box = await _sandbox(uc, team)
    [workload] = await uc.ports.runtime.list(owner_of(box))
    watch = uc.workload_watch
    assert await watch.round() == 0  # seen for the first time, recorded already at its start
    assert await watch.round() == 0  # nothing changed: nothing written

    _exit_now.set()  # the workload exits by itself
    for _ in range(100):
        seen = await uc.ports.runtime.inspect(workload.id)
        if seen is not None and seen.state is WorkloadState.EXITED:
            break
        await asyncio.sleep(0.01)
    record = await uc.ports.nodes.workload(workload.id)
    assert record is not None
    assert record.snapshot is not None
    assert record.snapshot.state is WorkloadState.RUNNING  # what other nodes read, until the watch runs

    assert await watch.round() == 1
    record = await uc.ports.nodes.workload(workload.id)
    assert record is not None
    assert record.snapshot is not None
    assert (record.snapshot.state, record.snapshot.exit_code) == (WorkloadState.EXITED, EXIT)
    view = await uc.sandboxes.get(team.member, box)
    assert (view.state, view.state_reason) == (SandboxState.ERROR, f"its workload exited (code {EXIT})")
    assert await watch.round() == 0


async def _exited(uc: UseCases, workload_id: str) -> None:
    _exit_now.set()  # the workload exits by itself
    for _ in range(100):
        seen = await uc.ports.runtime.inspect(workload_id)
        if seen is not None and seen.state is WorkloadState.EXITED:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"workload {workload_id} did not exit")


async def test_a_quiet_round_is_one_statuses_call_and_no_inspection(
    uc: UseCases, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = await _sandbox(uc, team)
    [workload] = await uc.ports.runtime.list(owner_of(box))
    runtime: CountedRuntime = uc.ports.runtime.inner  # type: ignore[attr-defined]
    reads = Counter[str]()
    read = uc.ports.nodes.workload

    async def counted_read(workload_id: str) -> NodeWorkload | None:
        reads[workload_id] += 1
        return await read(workload_id)

    monkeypatch.setattr(uc.ports.nodes, "workload", counted_read)
    watch = uc.workload_watch
    assert await watch.round() == 0  # seen for the first time: inspected, its record read (written already)
    assert (runtime.calls["inspect"], reads[workload.id]) == (1, 1)

    runtime.calls.clear()
    for _ in range(3):
        assert await watch.round() == 0
    assert runtime.calls == Counter(statuses=3)  # no list, no inspection
    assert reads[workload.id] == 1  # nor any read of its record

    await _exited(uc, workload.id)
    runtime.calls.clear()
    assert await watch.round() == 1
    assert runtime.calls == Counter(statuses=1, inspect=2)  # the watch's, then the sandbox check's


async def test_a_workload_removed_before_its_inspection_is_skipped(
    uc: UseCases, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    box = await _sandbox(uc, team)
    [workload] = await uc.ports.runtime.list(owner_of(box))
    runtime: CountedRuntime = uc.ports.runtime.inner  # type: ignore[attr-defined]
    watch = uc.workload_watch
    assert await watch.round() == 0
    await _exited(uc, workload.id)
    runtime.vanish = workload.id
    runtime.calls.clear()
    assert await watch.round() == 0  # changed, but gone when inspected: nothing passed on, nothing failed
    assert runtime.calls == Counter(statuses=1, inspect=1)
    assert "failed" not in caplog.text
    record = await uc.ports.nodes.workload(workload.id)
    assert record is not None
    assert record.snapshot is not None
    assert record.snapshot.state is WorkloadState.RUNNING  # left as it was (the reapers handle what is gone)


async def test_a_sandbox_running_on_another_node_is_not_taken_for_gone(uc: UseCases, team: Team) -> None:
    box = await _sandbox(uc, team)
    [workload] = await uc.ports.runtime.list(owner_of(box))
    record = await uc.ports.nodes.workload(workload.id)
    assert record is not None
    await uc.ports.runtime.inner.remove(workload.id)  # type: ignore[attr-defined]  # out of this node's sight
    lifecycle = uc.sandbox_reaper.lifecycle
    await uc.ports.nodes.record(msgspec.structs.replace(record, node_id="node-2"))  # another node runs it
    stored = await lifecycle.check(await _stored(uc, box))
    assert stored.state is SandboxState.RUNNING

    await uc.ports.nodes.drop(workload.id)  # nobody's: gone
    stored = await lifecycle.check(await _stored(uc, box))
    assert stored.state is SandboxState.ERROR
    assert stored.state_reason is not None
    assert stored.state_reason.startswith(f"its workload {workload.id} is gone from the"), stored.state_reason


async def _stored(uc: UseCases, sandbox_id: str) -> Sandbox:
    async with uc.ports.uow(read_only=True) as uow:
        found = await uow.sandboxes.find(sandbox_id)
    assert found is not None
    return found
