"""Managed containers and the reconciler, on real processes."""

from __future__ import annotations

import dataclasses

import pytest

from tesserra_core.domain.identity import Principal, Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, NotFound, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import WorkloadSpec
from tesserra_core.usecases.installations import InstallRequest, ToolCall
from tests.tools.helpers import PROBE, SECRET, settled
from tests.unit.conftest import make_team
from tests.unit.helpers import Team, add_user, sign_in

CONFIG = {"PROBE_TOKEN": SECRET}


async def ready_probe(uc: UseCases, actor: Principal) -> str:
    view = await uc.installations.install(actor, PROBE, InstallRequest(config=CONFIG))
    assert (await settled(uc, actor, view.id)).status == "ready"
    return view.id


async def test_containers_list_the_tenants_managed_workloads_only(uc: UseCases, team: Team, admin: Principal) -> None:
    installation_id = await ready_probe(uc, team.owner)
    # A workload nobody manages (no known owner kind) and another tenant's are never listed.
    unmanaged = await uc.ports.runtime.run(
        WorkloadSpec(owner="adhoc:1", tenant_id=team.tenant_id, command=("/bin/sleep", "30"))
    )
    other = await make_team(uc, admin)
    theirs = await ready_probe(uc, other.owner)
    page = await uc.containers.list(team.owner, PageRequest())
    assert [c.installation_id for c in page.items] == [installation_id]
    container = page.items[0]
    assert container.kind == "installation"
    assert container.state == "running"
    assert container.runtime == "process"
    assert (await uc.containers.get(team.owner, container.id)).id == container.id
    with pytest.raises(NotFound):
        await uc.containers.get(team.owner, unmanaged.id)
    their_container = (await uc.containers.list(other.owner, PageRequest())).items[0]
    assert their_container.installation_id == theirs
    for action in ("stop", "remove"):
        with pytest.raises(NotFound):
            await uc.containers.action(team.owner, their_container.id, action)
    with pytest.raises(NotFound):
        await uc.containers.get(team.owner, their_container.id)
    with pytest.raises(NotFound):
        await uc.containers.action(team.owner, "no-such-container", "stop")
    await uc.ports.runtime.remove(unmanaged.id)


async def test_container_actions(uc: UseCases, team: Team) -> None:
    installation_id = await ready_probe(uc, team.owner)
    container = (await uc.containers.list(team.owner, PageRequest())).items[0]
    with pytest.raises(ValidationFailed) as caught:
        await uc.containers.action(team.owner, container.id, "explode")
    assert caught.value.code == "invalid_action"
    with pytest.raises(Forbidden):
        await uc.containers.action(team.member, container.id, "stop")
    viewer_email = await add_user(uc, team.tenant_id, Role.VIEWER)
    _, viewer = await sign_in(uc, viewer_email, tenant_id=team.tenant_id)
    with pytest.raises(Forbidden):
        await uc.containers.action(viewer, container.id, "stop")
    stopped = await uc.containers.action(team.owner, container.id, "stop")
    assert stopped.container is not None
    assert stopped.container.state == "exited"
    assert (await uc.installations.get(team.owner, installation_id)).status == "stopped"
    started = await uc.containers.action(team.owner, container.id, "start")
    assert started.container is not None
    assert started.container.state == "running"
    restarted = await uc.containers.action(team.owner, container.id, "restart")
    assert restarted.container is not None
    assert restarted.container.state == "running"
    # The installation comes back on its next call, with one workload.
    echoed = await uc.installations.call_tool(
        team.owner, installation_id, ToolCall(name="echo", arguments={"text": "x"})
    )
    assert echoed.content[0]["text"] == "x"
    assert len(await uc.ports.runtime.list(f"installation:{installation_id}")) == 1
    container = (await uc.containers.list(team.owner, PageRequest())).items[0]
    removed = await uc.containers.action(team.owner, container.id, "remove")
    assert removed.container is None
    assert await uc.ports.runtime.list(f"installation:{installation_id}") == []
    assert (await uc.installations.get(team.owner, installation_id)).status == "stopped"


async def test_the_reconciler_removes_strays_and_marks_vanished_workloads(uc: UseCases, team: Team) -> None:
    installation_id = await ready_probe(uc, team.owner)
    runtime = uc.ports.runtime
    stray = await runtime.run(
        WorkloadSpec(owner="installation:01gone", tenant_id=team.tenant_id, command=("/bin/sleep", "30"))
    )
    removed, marked = await uc.tool_servers.reconcile()
    assert (removed, marked) == (1, 0)
    assert await runtime.inspect(stray.id) is None
    assert (await uc.installations.get(team.owner, installation_id)).status == "ready"
    # Its workload vanishes behind the platform's back: marked stopped, started again on next use.
    for workload in await runtime.list(f"installation:{installation_id}"):
        await runtime.remove(workload.id)
    removed, marked = await uc.tool_servers.reconcile()
    assert marked == 1
    view = await uc.installations.get(team.owner, installation_id)
    assert view.status == "stopped"
    assert view.status_reason is not None
    pid = await uc.installations.call_tool(team.owner, installation_id, ToolCall(name="pid"))
    assert not pid.is_error
    assert (await uc.installations.get(team.owner, installation_id)).status == "ready"
    assert await uc.tool_servers.reconcile() == (0, 0)


async def test_resources_and_sandboxes_are_listed_with_their_owner(uc: UseCases, team: Team) -> None:
    runtime = uc.ports.runtime
    resource = await runtime.run(
        WorkloadSpec(owner="resource:r1", tenant_id=team.tenant_id, command=("/bin/sleep", "30"))
    )
    sandbox = await runtime.run(
        WorkloadSpec(owner="sandbox:s1", tenant_id=team.tenant_id, command=("/bin/sleep", "30"))
    )
    try:
        listed = {c.id: c for c in (await uc.containers.list(team.member, PageRequest())).items}
        assert (listed[resource.id].kind, listed[resource.id].resource_id) == ("resource", "r1")
        assert (listed[sandbox.id].kind, listed[sandbox.id].sandbox_id) == ("sandbox", "s1")
        assert listed[sandbox.id].installation_id is None
        page = await uc.containers.list(team.member, PageRequest(limit=1, offset=1))
        assert (len(page.items), page.total) == (1, 2)
    finally:
        await runtime.remove(resource.id)
        await runtime.remove(sandbox.id)


async def test_the_periodic_pass_leaves_another_workers_servers_alone(uc: UseCases, team: Team) -> None:
    """Two workers share the store and the runtime: the periodic pass of one never removes what the
    other serves; it removes only strays, and marks an installation whose workload vanished."""
    installation_id = await ready_probe(uc, team.owner)
    other_worker = dataclasses.replace(uc.tool_servers, _live={}, _starting={}, _installs={}, _removed=set())
    runtime = uc.ports.runtime
    stray = await runtime.run(
        WorkloadSpec(owner="installation:01gone", tenant_id=team.tenant_id, command=("/bin/sleep", "30"))
    )
    assert await other_worker.reconcile(full=False) == (1, 0)
    assert await runtime.inspect(stray.id) is None
    echoed = await uc.installations.call_tool(
        team.owner, installation_id, ToolCall(name="echo", arguments={"text": "a"})
    )
    assert echoed.content[0]["text"] == "a"
    assert (await uc.installations.get(team.owner, installation_id)).status == "ready"
    for workload in await runtime.list(f"installation:{installation_id}"):
        await runtime.remove(workload.id)
    assert await other_worker.reconcile(full=False) == (0, 1)
    assert (await uc.installations.get(team.owner, installation_id)).status == "stopped"
