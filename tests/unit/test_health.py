"""Project and tenant health on the memory adapters: runtime state, HTTP checks with latency,
aggregation with reasons, a bounded total time, and health sources from other areas."""

from __future__ import annotations

import asyncio
import time

import msgspec

from tesserra_adapters.http_probe import MemoryHttpProbe
from tesserra_core.domain.resources import DesiredState, ResourceStatus
from tesserra_core.facade import UseCases
from tesserra_core.ports.health import Health, HttpCheck
from tesserra_core.usecases.health import HealthItem, ResourceChecks, TenantHealth, aggregate
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource, ResourceChanges, ResourceView
from tests.unit.helpers import Team, store

WEB = {"image": "busybox", "port": 8080, "health_path": "/healthz"}


def probe(uc: UseCases) -> MemoryHttpProbe:
    http = uc.ports.http_probe
    assert isinstance(http, MemoryHttpProbe)
    return http


async def _web(uc: UseCases, team: Team, pid: str, name: str) -> ResourceView:
    r = await uc.resources.create(team.owner, pid, NewResource(type="web_app", name=name, config=WEB))
    await uc.provisioner.settled()
    return await uc.resources.get(team.owner, r.id)


async def test_a_healthy_project_is_ok_with_latency_and_runtime_state(uc: UseCases, team: Team) -> None:
    pid = (await uc.projects.create(team.owner, NewProject(name="p"))).id
    web = await _web(uc, team, pid, "web")
    await uc.resources.create(team.owner, pid, NewResource(type="postgres_database", name="db"))
    await uc.provisioner.settled()
    probe(uc).answer(f"{web.endpoint}/healthz", 200)
    report = await uc.health.project(team.member, pid)
    assert report.status is Health.OK, [(i.name, i.reasons) for i in report.items]
    assert report.reasons == []
    items = {i.name: i for i in report.items}
    assert items["web"].runtime_state == "running"
    assert items["web"].latency_ms is not None
    assert items["web"].state == "running"
    assert items["db"].status is Health.OK
    assert probe(uc).asked[-1] == f"{web.endpoint}/healthz"


async def test_http_errors_and_silence_degrade_with_reasons(uc: UseCases, team: Team) -> None:
    pid = (await uc.projects.create(team.owner, NewProject(name="p"))).id
    a = await _web(uc, team, pid, "a")
    b = await _web(uc, team, pid, "b")
    probe(uc).answer(f"{a.endpoint}/healthz", 503)
    report = await uc.health.project(team.owner, pid)
    assert report.status is Health.DEGRADED  # not every item is down
    items = {i.name: i for i in report.items}
    assert items["a"].status is Health.DEGRADED
    assert items["a"].reasons == ["HTTP 503"]
    assert items["b"].status is Health.DOWN
    assert "HTTP check failed" in items["b"].reasons[0]
    assert any(r.startswith("resource b: HTTP check failed") for r in report.reasons)
    probe(uc).answer(f"{b.endpoint}/healthz", 200)
    assert (await uc.health.project(team.owner, pid)).status is Health.DEGRADED
    probe(uc).answer(f"{a.endpoint}/healthz", 200)
    assert (await uc.health.project(team.owner, pid)).status is Health.OK
    probe(uc).answers.clear()
    everything_down = await uc.health.project(team.owner, pid)
    assert everything_down.status is Health.DOWN
    assert len(everything_down.reasons) == 2


async def test_failed_stopped_gone_and_pending_resources(uc: UseCases, team: Team) -> None:
    pid = (await uc.projects.create(team.owner, NewProject(name="p"))).id
    gone = await _web(uc, team, pid, "gone")
    stopped = await _web(uc, team, pid, "stopped")
    await uc.resources.update(team.owner, stopped.id, ResourceChanges(state=DesiredState.STOPPED))
    resources = store(uc).resources
    await uc.ports.runtime.remove(resources[gone.id].workload_id or "")
    failed = await uc.resources.create(team.owner, pid, NewResource(type="object_bucket", name="failed"))
    await uc.provisioner.settled()
    resources[failed.id] = msgspec.structs.replace(
        resources[failed.id], status=ResourceStatus.FAILED, status_reason="quota on the object store"
    )
    report = await uc.health.project(team.owner, pid)
    items = {i.name: i for i in report.items}
    assert items["gone"].status is Health.DOWN
    assert items["gone"].reasons == ["its workload is gone"]
    assert items["stopped"].status is Health.OK
    assert items["stopped"].state == "stopped"
    assert items["failed"].reasons == ["quota on the object store"]
    assert report.status is Health.DEGRADED


class SlowProbe:
    async def get(self, url: str, within: float) -> HttpCheck:
        await asyncio.sleep(30)
        return HttpCheck(200, 30_000)


async def test_checks_never_take_longer_than_the_budget(uc: UseCases, team: Team) -> None:
    pid = (await uc.projects.create(team.owner, NewProject(name="p"))).id
    for i in range(3):
        await _web(uc, team, pid, f"w{i}")
    checks = ResourceChecks(uc.ports.runtime, SlowProbe(), uc.ports.clock, budget=0.3)
    async with uc.ports.uow(read_only=True) as uow:
        resources = await uow.resources.all_of(team.tenant_id, pid)
    started = time.perf_counter()
    items = await checks(resources)
    assert time.perf_counter() - started < 1.0
    assert [i.status for i in items] == [Health.DOWN] * 3
    assert all(i.reasons == ["no answer within 0.3 s"] for i in items)


async def test_tenant_health_gathers_every_source_and_survives_a_broken_one(uc: UseCases, team: Team) -> None:
    p1 = (await uc.projects.create(team.owner, NewProject(name="p1"))).id
    p2 = (await uc.projects.create(team.owner, NewProject(name="p2"))).id
    await uc.resources.create(team.owner, p1, NewResource(type="object_bucket", name="b1"))
    await uc.resources.create(team.owner, p2, NewResource(type="object_bucket", name="b2"))
    await uc.provisioner.settled()
    report = await uc.health.tenant(team.member)
    assert report.status is Health.OK
    assert {i.name for i in report.items} == {"b1", "b2"}

    class Dns:
        async def check(self, tenant_id: str) -> list[HealthItem]:
            item = HealthItem(
                kind="domain",
                id="d1",
                name="loja.example",
                status=Health.DEGRADED,
                state="unverified",
                checked_at=uc.ports.clock.now(),
                reasons=["TXT challenge not found"],
            )
            return [item]

    class Broken:
        async def check(self, tenant_id: str) -> list[HealthItem]:
            raise OSError("resolver unreachable")

    class Hanging:
        async def check(self, tenant_id: str) -> list[HealthItem]:
            await asyncio.sleep(30)
            return []

    sources = [*uc.health.tenant.sources, Dns(), Broken(), Hanging()]
    started = time.perf_counter()
    combined = await TenantHealth(sources, uc.ports.clock, budget=0.3)(team.owner)
    assert time.perf_counter() - started < 1.0
    kinds = sorted((i.kind, i.status.value) for i in combined.items)
    assert kinds == [
        ("domain", "degraded"),
        ("resource", "ok"),
        ("resource", "ok"),
        ("source", "down"),
        ("source", "down"),
    ]
    assert combined.status is Health.DEGRADED
    assert "domain loja.example: TXT challenge not found" in combined.reasons
    assert any("resolver unreachable" in r for r in combined.reasons)
    assert any("no answer within 0.3 s" in r for r in combined.reasons)


def test_aggregation_rules() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)

    def item(status: Health) -> HealthItem:
        return HealthItem(kind="resource", id="i", name="n", status=status, state="s", checked_at=now, reasons=["r"])

    assert aggregate([], now).status is Health.OK
    assert aggregate([item(Health.OK)], now).status is Health.OK
    assert aggregate([item(Health.OK), item(Health.DOWN)], now).status is Health.DEGRADED
    assert aggregate([item(Health.DOWN), item(Health.DOWN)], now).status is Health.DOWN
    assert aggregate([item(Health.DEGRADED)], now).status is Health.DEGRADED
