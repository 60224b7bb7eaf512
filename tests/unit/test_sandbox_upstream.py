"""Where the proxy forwards a sandbox's traffic when another node runs its workload (issue 15): to the
address and ports that node recorded, when it runs on this machine (the same boot id); from another
machine (or a node whose machine is unknown) 502 ``sandbox_unreachable``, never the recorded address,
which would name something else here. This node's own workloads come from its runtime only."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tesserra_adapters.memory.nodes import MemoryNodes
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_core.errors import UpstreamFailed
from tesserra_core.ports.nodes import Node, NodeWorkload
from tesserra_core.ports.runtime import Workload, WorkloadState
from tesserra_core.usecases.sandbox_upstream import UpstreamPorts
from tests.unit.test_sandbox_states import a_sandbox


class Placed(MemoryNodes):
    """Nodes with the boot id of each one's machine."""

    def __init__(self, boots: dict[str, str | None]) -> None:
        super().__init__()
        self.boots = boots

    async def alive(self, since: float) -> list[Node]:
        return [Node(id=n, name=n, started_at=0, beat_at=1, boot_id=b) for n, b in self.boots.items()]


def _record(node_id: str, state: WorkloadState = WorkloadState.RUNNING) -> NodeWorkload:
    snapshot = Workload(
        id="w-1",
        owner="sandbox:s1",
        tenant_id="t1",
        runtime="process",
        state=state,
        image="",
        started_at=datetime(2026, 12, 5, tzinfo=UTC),
        ports={8000: 41234},
        address="127.0.0.1",
    )
    return NodeWorkload(workload_id="w-1", node_id=node_id, owner="sandbox:s1", runtime="process", snapshot=snapshot)


async def _upstream(boots: dict[str, str | None], record: NodeWorkload | None) -> UpstreamPorts:
    nodes = Placed(boots)
    if record is not None:
        await nodes.record(record)
    return UpstreamPorts(MemoryRuntime(), nodes, "here")


async def test_a_workload_of_another_node_on_this_machine_is_reached_where_that_node_recorded_it() -> None:
    upstream = await _upstream({"here": "boot-a", "there": "boot-a"}, _record("there"))
    assert await upstream.of(a_sandbox(workload_id="w-1")) == ("127.0.0.1", {8000: 41234})


@pytest.mark.parametrize("there", ["boot-b", None])
async def test_a_workload_of_a_node_on_another_or_an_unknown_machine_is_unreachable(there: str | None) -> None:
    upstream = await _upstream({"here": "boot-a", "there": there}, _record("there"))
    with pytest.raises(UpstreamFailed) as refused:
        await upstream.of(a_sandbox(workload_id="w-1"))
    assert refused.value.code == "sandbox_unreachable"
    assert "another machine" in refused.value.message


@pytest.mark.parametrize(
    "record",
    [
        None,  # recorded by no node
        _record("here"),  # this node's, which its runtime no longer has: the runtime is the truth
        _record("there", WorkloadState.EXITED),
        msgspec.structs.replace(_record("there"), snapshot=None),
    ],
)
async def test_a_workload_no_node_on_this_machine_runs_is_unreachable(record: NodeWorkload | None) -> None:
    upstream = await _upstream({"here": "boot-a", "there": "boot-a"}, record)
    with pytest.raises(UpstreamFailed) as refused:
        await upstream.of(a_sandbox(workload_id="w-1"))
    assert (refused.value.code, refused.value.message) == (
        "sandbox_unreachable",
        "the sandbox's workload is not running",
    )
