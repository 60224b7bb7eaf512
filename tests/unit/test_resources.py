"""Resource use cases and the provisioner on the memory adapters (the memory container runtime):
validation, quotas, the lifecycle in the background, failures recorded with their reason, stop and
start, reconfiguration, deletion, and resuming after a restart."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal, Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.resources import DesiredState, ResourceStatus, owner_of
from tesserra_core.errors import Conflict, Forbidden, NotFound, PaymentRequired, Unprocessable
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import Workload, WorkloadSpec, WorkloadState
from tesserra_core.runners.provisioner import LOGICAL_NOTE, Provisioner, workload_spec
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource, ResourceChanges, ResourceView
from tests.unit.conftest import make_team
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, Team, add_user, sign_in, store

WEB = {"image": "busybox", "port": 8080, "command": ["httpd", "-f"]}


async def _with_runtime(settings: Settings, stack: AsyncExitStack, rt: MemoryRuntime) -> tuple[UseCases, Team]:
    """A facade whose container runtime is ``rt``, with a customer team."""
    uc = await build(memory_ports(settings, stack, runtime=rt), settings)
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    return uc, await make_team(uc, (await sign_in(uc, ADMIN_EMAIL))[1])


def runtime(uc: UseCases) -> MemoryRuntime:
    rt = uc.ports.runtime
    assert isinstance(rt, MemoryRuntime)
    return rt


async def _project(uc: UseCases, actor: Principal, name: str = "App") -> str:
    return (await uc.projects.create(actor, NewProject(name=name))).id


async def _settled(uc: UseCases, actor: Principal, resource_id: str) -> ResourceView:
    await uc.provisioner.settled()
    return await uc.resources.get(actor, resource_id)


async def test_a_web_app_becomes_a_running_workload_with_its_endpoint(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    created = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="site", config=WEB))
    assert created.status is ResourceStatus.PENDING
    assert created.config["health_path"] == "/"  # defaults filled in
    done = await _settled(uc, team.owner, created.id)
    assert done.status is ResourceStatus.RUNNING, done
    workloads = await runtime(uc).list(owner_of(created.id))
    assert len(workloads) == 1
    workload = workloads[0]
    assert workload.state is WorkloadState.RUNNING
    assert workload.tenant_id == team.tenant_id
    assert done.endpoint == f"http://127.0.0.1:{workload.ports[8080]}"
    listed = await uc.resources.list(team.member, pid, PageRequest())
    assert [r.id for r in listed.items] == [created.id]


async def test_logical_types_are_recorded_as_provisioned_logical_resources(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    for kind in ("postgres_database", "object_bucket", "static_site"):
        r = await uc.resources.create(team.owner, pid, NewResource(type=kind, name=kind))
        done = await _settled(uc, team.owner, r.id)
        assert done.status is ResourceStatus.RUNNING
        assert done.status_reason == LOGICAL_NOTE
        assert done.endpoint is None
    assert await runtime(uc).list("resource:") == []


async def test_a_cron_job_gets_its_schedule_in_the_environment(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    config = {"image": "busybox", "schedule": "*/5 * * * *", "command": ["date"], "env": {"TZ": "UTC"}}
    r = await uc.resources.create(team.owner, pid, NewResource(type="cron_job", name="tick", config=config))
    assert (await _settled(uc, team.owner, r.id)).status is ResourceStatus.RUNNING
    spec = workload_spec(store(uc).resources[r.id])
    assert spec.env == {"TZ": "UTC", "CRON_SCHEDULE": "*/5 * * * *"}
    assert spec.command == ("date",)
    assert spec.image == "busybox"
    assert spec.ports == ()
    assert spec.owner == owner_of(r.id)


@pytest.mark.parametrize(
    ("rtype", "config", "field"),
    [
        ("web_app", {"image": "busybox"}, "config.port"),
        ("web_app", {"image": "busybox", "port": "80"}, "config.port"),
        ("web_app", {"image": "busybox", "port": 70000}, "config.port"),
        ("web_app", {**WEB, "envs": {}}, "config.envs"),
        ("web_app", {**WEB, "env": {"A": 1}}, "config.env.A"),
        ("cron_job", {"image": "b", "command": ["x"], "schedule": "often"}, "config.schedule"),
        ("postgres_database", {"version": "9"}, "config.version"),
    ],
)
async def test_bad_config_is_400_naming_the_field_and_stores_nothing(
    uc: UseCases, team: Team, rtype: str, config: dict[str, object], field: str
) -> None:
    pid = await _project(uc, team.owner)
    with pytest.raises(Unprocessable) as caught:
        await uc.resources.create(team.owner, pid, NewResource(type=rtype, name="bad", config=config))
    assert caught.value.message.startswith(f"{field}:"), caught.value.message
    assert caught.value.code == "invalid_config"
    assert (await uc.resources.list(team.owner, pid, PageRequest())).total == 0


async def test_unknown_type_and_plan_limits(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    with pytest.raises(Unprocessable) as unknown:
        await uc.resources.create(team.owner, pid, NewResource(type="vm", name="x"))
    assert unknown.value.code == "unknown_type"
    with pytest.raises(PaymentRequired) as big:
        await uc.resources.create(
            team.owner, pid, NewResource(type="web_app", name="x", config={**WEB, "memory_mb": 4096})
        )
    assert "web_app.memory_mb" in big.value.message


async def test_the_resource_quota_is_402_naming_it(uc: UseCases, team: Team) -> None:
    a = await _project(uc, team.owner, "a")
    b = await _project(uc, team.owner, "b")
    for i in range(10):  # the free plan's 10, across projects
        await uc.resources.create(team.owner, a if i % 2 else b, NewResource(type="object_bucket", name=f"r{i}"))
    with pytest.raises(PaymentRequired) as caught:
        await uc.resources.create(team.owner, a, NewResource(type="object_bucket", name="one more"))
    assert "quota resources exceeded" in caught.value.message
    assert caught.value.code == "subscription_required"


async def test_a_failure_is_recorded_with_its_reason(uc: UseCases, team: Team) -> None:
    rt = runtime(uc)
    rt._images = frozenset({"busybox"})  # this runtime knows one image, as an engine would
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(
        team.owner, pid, NewResource(type="web_app", name="x", config={**WEB, "image": "nope"})
    )
    done = await _settled(uc, team.owner, r.id)
    assert done.status is ResourceStatus.FAILED
    assert "image nope is not available" in done.status_reason
    # starting it again after fixing the config works
    fixed = await uc.resources.update(team.owner, r.id, ResourceChanges(config=WEB))
    assert fixed.status is ResourceStatus.PENDING
    assert (await _settled(uc, team.owner, r.id)).status is ResourceStatus.RUNNING


async def test_an_unexpected_runtime_error_is_recorded_not_lost(settings: Settings, exit_stack: AsyncExitStack) -> None:
    class Exploding(MemoryRuntime):
        async def run(self, spec: WorkloadSpec) -> Workload:
            raise RuntimeError("engine on fire")

    uc, team = await _with_runtime(settings, exit_stack, Exploding())
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    done = await _settled(uc, team.owner, r.id)
    assert done.status is ResourceStatus.FAILED
    assert done.status_reason == "RuntimeError: engine on fire"


async def test_stop_and_start_again(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    running = await _settled(uc, team.owner, r.id)
    first = (await runtime(uc).list(owner_of(r.id)))[0]
    stopped = await uc.resources.update(team.owner, r.id, ResourceChanges(state=DesiredState.STOPPED))
    assert stopped.status is ResourceStatus.STOPPED
    seen = await runtime(uc).inspect(first.id)
    assert seen is not None, first.id
    assert seen.state is WorkloadState.EXITED
    with pytest.raises(Conflict):
        await uc.resources.update(team.owner, (await _bucket(uc, team, pid)).id, ResourceChanges(name="same"))
    restarted = await uc.resources.update(team.owner, r.id, ResourceChanges(state=DesiredState.RUNNING))
    assert restarted.status is ResourceStatus.PENDING
    again = await _settled(uc, team.owner, r.id)
    assert again.status is ResourceStatus.RUNNING
    assert running.endpoint is not None
    assert again.endpoint is not None
    workloads = await runtime(uc).list(owner_of(r.id))
    assert [w.state for w in workloads] == [WorkloadState.RUNNING]


async def _bucket(uc: UseCases, team: Team, pid: str) -> ResourceView:
    await uc.resources.create(team.owner, pid, NewResource(type="object_bucket", name="same"))
    return await uc.resources.create(team.owner, pid, NewResource(type="object_bucket", name="other"))


async def test_reconfiguring_replaces_the_workload(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    await _settled(uc, team.owner, r.id)
    before = {w.id for w in await runtime(uc).list(owner_of(r.id))}
    await uc.resources.update(team.owner, r.id, ResourceChanges(config={**WEB, "port": 9090}, name="renamed"))
    done = await _settled(uc, team.owner, r.id)
    after = await runtime(uc).list(owner_of(r.id))
    assert done.name == "renamed"
    assert done.config["port"] == 9090
    assert len(after) == 1
    assert after[0].id not in before
    assert done.endpoint == f"http://127.0.0.1:{after[0].ports[9090]}"


async def test_delete_removes_the_workload_then_the_resource(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    await _settled(uc, team.owner, r.id)
    deleting = await uc.resources.delete(team.owner, r.id)
    assert deleting.status is ResourceStatus.DELETING
    with pytest.raises(Conflict):
        await uc.resources.update(team.owner, r.id, ResourceChanges(name="late"))
    await uc.provisioner.settled()
    with pytest.raises(NotFound):
        await uc.resources.get(team.owner, r.id)
    assert await runtime(uc).list(owner_of(r.id)) == []


async def test_deleting_a_project_removes_its_resources_and_workloads(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    keep = await _project(uc, team.owner, "keep")
    ids = [
        (await uc.resources.create(team.owner, pid, NewResource(type="web_app", name=f"w{i}", config=WEB))).id
        for i in range(2)
    ]
    kept = await uc.resources.create(team.owner, keep, NewResource(type="web_app", name="k", config=WEB))
    await uc.provisioner.settled()
    await uc.projects.delete(team.owner, pid)
    await uc.provisioner.settled()
    for rid in ids:
        assert await runtime(uc).list(owner_of(rid)) == []
        with pytest.raises(NotFound):
            await uc.resources.get(team.owner, rid)
    assert len(await runtime(uc).list(owner_of(kept.id))) == 1


async def test_a_restart_resumes_unsettled_resources_and_removes_strays(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    await uc.provisioner.settled()
    resources = store(uc).resources
    # As a crash mid-provisioning leaves it: status provisioning, a half-made workload behind.
    resources[r.id] = msgspec.structs.replace(resources[r.id], status=ResourceStatus.PROVISIONING, workload_id=None)
    stray = await runtime(uc).run(WorkloadSpec(owner=owner_of("01gone"), tenant_id=team.tenant_id, command=()))
    fresh = Provisioner(uc.ports.uow, uc.ports.runtime, uc.ports.clock)  # a new process's provisioner
    assert await fresh.reconcile() == 1
    await fresh.settled()
    done = await uc.resources.get(team.owner, r.id)
    assert done.status is ResourceStatus.RUNNING
    assert len(await runtime(uc).list(owner_of(r.id))) == 1
    assert await runtime(uc).inspect(stray.id) is None


async def test_another_tenants_resource_is_not_found_for_every_use_case(
    uc: UseCases, team: Team, admin: Principal
) -> None:
    other = await make_team(uc, admin)
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="object_bucket", name="b"))
    for call in (
        uc.resources.get(other.owner, r.id),
        uc.resources.update(other.owner, r.id, ResourceChanges(name="theirs")),
        uc.resources.delete(other.owner, r.id),
        uc.resources.list(other.owner, pid, PageRequest()),
        uc.resources.create(other.owner, pid, NewResource(type="object_bucket", name="c")),
        uc.health.project(other.owner, pid),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await uc.resources.get(team.owner, r.id)).name == "b"


async def test_viewers_cannot_write_resources(uc: UseCases, team: Team) -> None:
    email = await add_user(uc, team.tenant_id, Role.VIEWER)
    _, viewer = await sign_in(uc, email, tenant_id=team.tenant_id)
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="object_bucket", name="b"))
    assert (await uc.resources.get(viewer, r.id)).id == r.id
    with pytest.raises(Forbidden):
        await uc.resources.create(viewer, pid, NewResource(type="object_bucket", name="c"))
    with pytest.raises(Forbidden):
        await uc.resources.delete(viewer, r.id)


async def test_concurrent_requests_for_one_resource_are_worked_one_at_a_time(uc: UseCases, team: Team) -> None:
    """Many schedules at once (a double click, two workers' reconcilers): one workload in the end."""
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    for _ in range(5):
        uc.provisioner.schedule(r.id)
    await uc.provisioner.settled()
    assert (await uc.resources.get(team.owner, r.id)).status is ResourceStatus.RUNNING
    assert len(await runtime(uc).list(owner_of(r.id))) == 1
    assert uc.provisioner._locks == {}


class Gate(MemoryRuntime):
    """A runtime whose ``run`` waits until the test opens the gate (a slow image pull)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def run(self, spec: WorkloadSpec) -> Workload:
        self.entered.set()
        await self.gate.wait()
        return await super().run(spec)


async def test_a_rename_while_provisioning_is_neither_lost_nor_stuck(
    settings: Settings, exit_stack: AsyncExitStack
) -> None:
    gate = Gate()
    uc, team = await _with_runtime(settings, exit_stack, gate)
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    await gate.entered.wait()
    renamed = await uc.resources.update(team.owner, r.id, ResourceChanges(name="renamed"))
    assert renamed.status is ResourceStatus.PROVISIONING
    gate.gate.set()
    done = await _settled(uc, team.owner, r.id)
    assert done.name == "renamed"
    assert done.status is ResourceStatus.RUNNING
    workloads = await gate.list(owner_of(r.id))
    assert len(workloads) == 1
    assert done.endpoint == f"http://127.0.0.1:{workloads[0].ports[8080]}"


async def test_a_delete_while_provisioning_leaves_nothing_behind(
    settings: Settings, exit_stack: AsyncExitStack
) -> None:
    gate = Gate()
    uc, team = await _with_runtime(settings, exit_stack, gate)
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    await gate.entered.wait()
    assert (await uc.resources.delete(team.owner, r.id)).status is ResourceStatus.DELETING
    gate.gate.set()
    await uc.provisioner.settled()
    with pytest.raises(NotFound):
        await uc.resources.get(team.owner, r.id)
    assert await gate.list("resource:") == []


async def test_two_workers_resuming_one_resource_make_one_workload(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="x", config=WEB))
    await uc.provisioner.settled()
    resources = store(uc).resources
    resources[r.id] = msgspec.structs.replace(resources[r.id], status=ResourceStatus.PROVISIONING, workload_id=None)
    for w in await runtime(uc).list(owner_of(r.id)):
        await runtime(uc).remove(w.id)
    workers = [Provisioner(uc.ports.uow, uc.ports.runtime, uc.ports.clock) for _ in range(2)]
    await asyncio.gather(*(w.reconcile() for w in workers))
    await asyncio.gather(*(w.settled() for w in workers))
    done = await uc.resources.get(team.owner, r.id)
    assert done.status is ResourceStatus.RUNNING
    workloads = await runtime(uc).list(owner_of(r.id))
    assert len(workloads) == 1
    assert store(uc).resources[r.id].workload_id == workloads[0].id


async def test_reconcile_removes_only_workloads_nobody_will_use(uc: UseCases, team: Team) -> None:
    pid = await _project(uc, team.owner)
    running = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="run", config=WEB))
    await uc.provisioner.settled()
    recorded = store(uc).resources[running.id].workload_id
    extra = await runtime(uc).run(WorkloadSpec(owner=owner_of(running.id), tenant_id=team.tenant_id, command=()))
    pending = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name="pend", config=WEB))
    await uc.provisioner.settled()
    resources = store(uc).resources
    resources[pending.id] = msgspec.structs.replace(resources[pending.id], status=ResourceStatus.PENDING)
    in_flight = (await runtime(uc).list(owner_of(pending.id)))[0]  # as if another worker were provisioning it
    fresh = Provisioner(uc.ports.uow, uc.ports.runtime, uc.ports.clock)
    resumed = await fresh.reconcile()
    assert resumed == 1
    assert await runtime(uc).inspect(extra.id) is None  # settled on another workload: a stray
    assert recorded is not None
    assert await runtime(uc).inspect(recorded) is not None
    assert await runtime(uc).inspect(in_flight.id) is not None  # not a stray: its resource is being provisioned
    await fresh.settled()
    assert (await uc.resources.get(team.owner, pending.id)).status is ResourceStatus.RUNNING
    assert in_flight.id not in {w.id for w in await runtime(uc).list(owner_of(pending.id))}  # replaced by the retry
