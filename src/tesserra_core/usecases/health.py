"""Health of a project and of a tenant: each resource's runtime state, an HTTP check with its
latency for resources that answer HTTP, aggregated to ok / degraded / down with reasons.

Checks run concurrently under one deadline, so a request never waits longer than ``budget``
seconds whatever the targets do. The tenant report gathers ``HealthSource``s: resources are one;
other areas (the domains' DNS status) add theirs where the facade builds ``tenant_health``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

import msgspec

from tesserra_core.domain.catalog import Kind, catalog
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.resources import Resource, ResourceStatus
from tesserra_core.ports import Ports
from tesserra_core.ports.health import Health, HttpProbe
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime, WorkloadState
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.projects import project_of

HTTP_TIMEOUT = 2.0
BUDGET = 3.0


class HealthItem(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    """``resource`` (or ``domain``, from the domains' source)."""
    id: str
    name: str
    status: Health
    state: str
    """The object's own state (a resource's lifecycle status)."""
    checked_at: datetime
    reasons: list[str] = msgspec.field(default_factory=list)
    project_id: str | None = None
    runtime_state: str | None = None
    latency_ms: float | None = None


class HealthReport(msgspec.Struct, frozen=True):
    status: Health
    checked_at: datetime
    reasons: list[str]
    items: list[HealthItem]


class HealthSource(Protocol):
    """One area's contribution to a tenant's health report."""

    async def check(self, tenant_id: str) -> list[HealthItem]: ...


def aggregate(items: Sequence[HealthItem], checked_at: datetime) -> HealthReport:
    """ok when every item is ok; down when every item is down; degraded otherwise."""
    reasons = [f"{i.kind} {i.name}: {r}" for i in items if i.status is not Health.OK for r in i.reasons]
    statuses = {i.status for i in items}
    if not items or statuses == {Health.OK}:
        status = Health.OK
    elif statuses == {Health.DOWN}:
        status = Health.DOWN
    else:
        status = Health.DEGRADED
    return HealthReport(status, checked_at, reasons, list(items))


@dataclass(frozen=True, slots=True)
class ResourceChecks:
    """Checks resources through the runtime and an HTTP probe, all at once, within ``budget``."""

    runtime: ContainerRuntime
    http: HttpProbe
    clock: Clock
    http_timeout: float = HTTP_TIMEOUT
    budget: float = BUDGET

    async def __call__(self, resources: Sequence[Resource]) -> list[HealthItem]:
        tasks = [asyncio.ensure_future(self._one(r)) for r in resources]
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks, timeout=self.budget)
        for task in pending:
            task.cancel()
        items = []
        for resource, task in zip(resources, tasks, strict=True):
            if task in pending or task.cancelled():
                items.append(self._item(resource, Health.DOWN, [f"no answer within {self.budget:g} s"]))
            elif task.exception() is not None:
                items.append(self._item(resource, Health.DOWN, [f"check failed: {task.exception()}"]))
            else:
                items.append(task.result())
        return items

    def _item(self, r: Resource, status: Health, reasons: list[str], **more: object) -> HealthItem:
        return HealthItem(
            kind="resource",
            id=r.id,
            name=r.name,
            status=status,
            state=r.status.value,
            checked_at=self.clock.now(),
            reasons=reasons,
            project_id=r.project_id,
            **more,  # type: ignore[arg-type]
        )

    async def _one(self, r: Resource) -> HealthItem:
        if r.status is ResourceStatus.FAILED:
            return self._item(r, Health.DOWN, [r.status_reason or "provisioning failed"])
        if r.status is ResourceStatus.STOPPED:
            return self._item(r, Health.OK, [])
        if r.status is not ResourceStatus.RUNNING:
            return self._item(r, Health.DEGRADED, [f"{r.status.value}"])
        rtype = catalog().get(r.type)
        if rtype.kind is Kind.LOGICAL:
            return self._item(r, Health.OK, [])
        if r.workload_id is None:
            return self._item(r, Health.DOWN, ["no workload recorded"])
        workload = await self.runtime.inspect(r.workload_id)
        if workload is None:
            return self._item(r, Health.DOWN, ["its workload is gone"])
        if workload.state is not WorkloadState.RUNNING:
            code = f" (exit code {workload.exit_code})" if workload.exit_code is not None else ""
            return self._item(r, Health.DOWN, [f"workload {workload.state.value}{code}"], runtime_state=workload.state)
        if not rtype.http or r.endpoint is None:
            return self._item(r, Health.OK, [], runtime_state=workload.state.value)
        url = r.endpoint + str(r.config.get("health_path") or "/")
        check = await self.http.get(url, self.http_timeout)
        more = {"runtime_state": workload.state.value, "latency_ms": round(check.latency_ms, 3)}
        if check.status_code is None:
            return self._item(r, Health.DOWN, [f"HTTP check failed: {check.error}"], **more)
        if check.status_code >= 500:
            return self._item(r, Health.DEGRADED, [f"HTTP {check.status_code}"], **more)
        return self._item(r, Health.OK, [], **more)


@dataclass(frozen=True, slots=True)
class ResourceHealthSource:
    """The tenant's resources, as a health source."""

    uow: UnitOfWorkFactory
    checks: ResourceChecks

    async def check(self, tenant_id: str) -> list[HealthItem]:
        async with self.uow(read_only=True) as uow:
            resources = await uow.resources.all_of(tenant_id)
        return await self.checks(resources)


@dataclass(frozen=True, slots=True)
class ProjectHealth:
    """Each resource's runtime state and HTTP check (with latency), aggregated to ok, degraded or down. Answers
    within a few seconds whatever the resources do."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory
    checks: ResourceChecks
    clock: Clock

    async def __call__(self, actor: Principal, project_id: str) -> HealthReport:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            await project_of(uow, actor, project_id)
            resources = await uow.resources.all_of(actor.tenant_id, project_id)
        return aggregate(await self.checks(resources), self.clock.now())


@dataclass(frozen=True, slots=True)
class TenantHealth:
    """The health of everything the tenant runs (every resource, and every domain's verification and DNS),
    aggregated to ok, degraded or down."""

    scope: ClassVar[Scope] = Scope.TENANT_READ

    sources: Sequence[HealthSource]
    clock: Clock
    budget: float = BUDGET + 0.5

    async def __call__(self, actor: Principal) -> HealthReport:
        actor.require(self.scope)
        results = await asyncio.gather(*(self._bounded(s, actor.tenant_id) for s in self.sources))
        return aggregate([item for items in results for item in items], self.clock.now())

    async def _bounded(self, source: HealthSource, tenant_id: str) -> list[HealthItem]:
        """A source that is slow or broken shows up as one ``down`` item; it never fails the report."""
        try:
            return await asyncio.wait_for(source.check(tenant_id), timeout=self.budget)
        except Exception as exc:
            why = f"no answer within {self.budget:g} s" if isinstance(exc, TimeoutError) else f"check failed: {exc}"
            name = type(source).__name__
            return [
                HealthItem(
                    kind="source",
                    id=name,
                    name=name,
                    status=Health.DOWN,
                    state="unknown",
                    checked_at=self.clock.now(),
                    reasons=[why],
                )
            ]


@dataclass(frozen=True, slots=True)
class HealthChecks:
    """GET /api/projetos/{id}/saude and /api/tenants/atual/saude."""

    project: ProjectHealth
    tenant: TenantHealth


def health(p: Ports, *, also: Sequence[HealthSource] = ()) -> HealthChecks:
    """The resources' health, and ``also`` the other areas' sources (the domains' DNS status)."""
    checks = ResourceChecks(p.runtime, p.http_probe, p.clock)
    sources = [ResourceHealthSource(p.uow, checks), *also]
    return HealthChecks(project=ProjectHealth(p.uow, checks, p.clock), tenant=TenantHealth(sources, p.clock))
