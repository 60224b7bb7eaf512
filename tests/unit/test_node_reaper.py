"""The reaper of dead nodes (issue 15), on the memory adapters with a clock the test moves: the
workloads a node recorded are reaped once its heartbeat is 10 s old, never before and never this
node's own; a sandbox running on it moves to error naming the node, its workload removed; a resource
running on it is provisioned again here; then the node is forgotten."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import msgspec

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.settings import Settings
from tesserra_core.domain.resources import ResourceStatus
from tesserra_core.domain.sandboxes import SandboxState, owner_of
from tesserra_core.facade import NODE_DEAD_AFTER, UseCases
from tesserra_core.ports.nodes import NodeWorkload
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource
from tesserra_core.usecases.sandbox_views import NewSandbox
from tests.unit.helpers import FakeClock, Team

WEB = {"image": "busybox", "port": 8080, "command": ["httpd", "-f"]}


async def test_a_dead_nodes_sandbox_and_resource_are_reaped_once_its_heartbeat_is_stale(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    nodes, runtime = uc.ports.nodes, uc.ports.runtime
    reaper = uc.sandbox_reaper.dead_nodes
    assert reaper is not None
    box = await uc.sandboxes.create(team.member, msgspec.convert({"name": "b", "command": ["sleep", "60"]}, NewSandbox))
    project = (await uc.projects.create(team.owner, NewProject(name="App"))).id
    site = await uc.resources.create(team.owner, project, NewResource(type="web_app", name="site", config=WEB))
    await uc.provisioner.settled()
    site_view = await uc.resources.get(team.owner, site.id)
    assert site_view.status is ResourceStatus.RUNNING
    sandbox = await uc.sandboxes.get(team.member, box.id)
    assert sandbox.state is SandboxState.RUNNING
    [sandbox_workload] = await runtime.list(owner_of(box.id))
    [site_workload] = await runtime.list(f"resource:{site.id}")
    now = clock.now().timestamp()
    await nodes.beat("dead-node", "elsewhere", now)  # the node that ran them, as far as the store knows
    for workload in (sandbox_workload, site_workload):
        await nodes.record(
            NodeWorkload(workload_id=workload.id, node_id="dead-node", owner=workload.owner, runtime="memory")
        )
    await nodes.beat(uc.ports.node_id, "here", now)

    clock.advance(NODE_DEAD_AFTER - 1)
    await nodes.beat(uc.ports.node_id, "here", now)
    assert await reaper() == 0  # not yet dead
    assert await reaper.others_alive()
    clock.advance(2)
    assert not await reaper.others_alive()
    assert await reaper() == 2

    sandbox = await uc.sandboxes.get(team.member, box.id)
    assert sandbox.state is SandboxState.ERROR
    assert "dead-node" in sandbox.state_reason
    assert await runtime.inspect(sandbox_workload.id) is None
    await uc.provisioner.settled()
    site_view = await uc.resources.get(team.owner, site.id)
    assert site_view.status is ResourceStatus.RUNNING  # provisioned again, here
    assert await runtime.inspect(site_workload.id) is None
    [replacement] = await runtime.list(f"resource:{site.id}")
    assert replacement.id != site_workload.id
    assert await nodes.workloads_of("dead-node") == []
    assert [n.id for n in await nodes.stale(clock.now().timestamp() + 1)] == [uc.ports.node_id]  # forgotten
    clock.advance(60)
    assert await reaper() == 0  # this node's own row is never reaped, however stale


async def test_the_operator_sets_how_long_a_silent_node_lives(tmp_path: Path, clock: FakeClock) -> None:
    """TESSERRA_NODE_TIMEOUT reaches the reaper through the composition root: at 4 s, a node silent
    for 3 s is alive and one silent for 5 s is dead (at the default, 10 s, it would still be alive)."""
    settings = Settings.from_env({"TESSERRA_DATA_DIR": str(tmp_path), "TESSERRA_NODE_TIMEOUT": "4"})
    async with AsyncExitStack() as stack:
        uc = await build(memory_ports(settings, stack, clock=clock), settings)
        reaper = uc.sandbox_reaper.dead_nodes
        assert reaper is not None
        await uc.ports.nodes.beat("quiet-node", "elsewhere", clock.now().timestamp())
        clock.advance(3)
        assert await reaper.others_alive()
        others_alive = uc.provisioner.others_alive  # what the provisioner asks before it takes work over
        assert others_alive is not None
        assert await others_alive()
        clock.advance(2)
        assert not await reaper.others_alive()
        assert not await others_alive()
        assert NODE_DEAD_AFTER > 5  # the default would have kept it alive
        await reaper()
        assert "quiet-node" not in [n.id for n in await uc.ports.nodes.stale(clock.now().timestamp() + 1)]  # reaped
