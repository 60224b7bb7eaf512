"""/api/containers with several nodes (issue 15), on the memory adapters: a node's runtime knows only its
own workloads, so another node's come from its records (with the state it last recorded); the list holds
both, one GET answers either, and an action on another node's workload answers 409
``container_on_other_node``; another tenant's record is neither listed nor found (404)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import owner_of
from tesserra_core.errors import Conflict, NotFound
from tesserra_core.facade import UseCases
from tesserra_core.ports.nodes import NodeWorkload
from tesserra_core.ports.runtime import Workload, WorkloadState
from tesserra_core.usecases.sandbox_views import NewSandbox
from tests.unit.helpers import Team


def _elsewhere(workload_id: str, tenant_id: str, owner: str = "sandbox:sb-elsewhere") -> NodeWorkload:
    snapshot = Workload(
        id=workload_id,
        owner=owner,
        tenant_id=tenant_id,
        runtime="docker",
        state=WorkloadState.RUNNING,
        image="busybox",
        started_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )
    return NodeWorkload.of(snapshot, "node-2", "docker")


async def test_another_nodes_workloads_are_listed_and_read_from_its_records_and_refuse_actions(
    uc: UseCases, team: Team
) -> None:
    nodes = uc.ports.nodes
    box = await uc.sandboxes.create(team.member, msgspec.convert({"name": "b", "command": ["sleep", "60"]}, NewSandbox))
    [here] = await uc.ports.runtime.list(owner_of(box.id))
    await nodes.record(_elsewhere("w-elsewhere", team.tenant_id))
    await nodes.record(_elsewhere("w-stranger", "another-tenant"))
    # a record of this node whose workload its runtime no longer has is not shown: the runtime is the truth
    gone = msgspec.structs.replace(_elsewhere("w-gone", team.tenant_id), node_id=uc.ports.node_id)
    await nodes.record(gone)

    listed = await uc.containers.list(team.owner, PageRequest())
    assert [c.id for c in listed.items] == sorted([here.id, "w-elsewhere"])
    [remote] = [c for c in listed.items if c.id == "w-elsewhere"]
    assert (remote.state, remote.runtime, remote.image, remote.kind) == (
        WorkloadState.RUNNING,
        "docker",
        "busybox",
        "sandbox",
    )
    assert (await uc.containers.get(team.owner, "w-elsewhere")) == remote
    with pytest.raises(Conflict) as refused:
        await uc.containers.action(team.owner, "w-elsewhere", "stop")
    assert refused.value.code == "container_on_other_node"
    for hidden in ("w-stranger", "w-gone"):
        with pytest.raises(NotFound):
            await uc.containers.get(team.owner, hidden)
        with pytest.raises(NotFound):
            await uc.containers.action(team.owner, hidden, "stop")
    stopped = await uc.containers.action(team.owner, here.id, "stop")  # this node's own: acted on
    assert stopped.container is not None
    assert stopped.container.state is WorkloadState.EXITED
