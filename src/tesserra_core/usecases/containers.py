"""Managed containers: the tenant's workloads (installations, sandboxes, resources) and their lifecycle.

Only workloads this platform manages are listed (the runtime lists by owner label), and only the
caller's tenant's: another tenant's workload answers 404. Actions need ``tools:write`` and a tenant
owner or admin (or a platform administrator). An action on an installation's workload keeps the
installation coherent: its pooled session is dropped and the next tool call starts it afresh.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from tesserra_core.domain.identity import Principal, Role, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.tools import InstallationStatus, installation_of
from tesserra_core.errors import Forbidden, NotFound, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadState
from tesserra_core.usecases.installations import InstallationServers
from tesserra_core.usecases.tool_views import ContainerActionView, ContainerView

MANAGED_OWNERS = ("installation:", "sandbox:", "resource:")


class ContainerAction(enum.StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    REMOVE = "remove"


def parse_action(action: str) -> ContainerAction:
    try:
        return ContainerAction(action)
    except ValueError:
        allowed = ", ".join(a.value for a in ContainerAction)
        raise ValidationFailed(f"action must be one of {allowed}", code="invalid_action") from None


async def _tenant_workloads(runtime: ContainerRuntime, tenant_id: str) -> list[Workload]:
    found: list[Workload] = []
    for prefix in MANAGED_OWNERS:
        found += [w for w in await runtime.list(prefix) if w.tenant_id == tenant_id]
    return sorted(found, key=lambda w: w.id)


async def _workload(runtime: ContainerRuntime, actor: Principal, container_id: str) -> Workload:
    workload = await runtime.inspect(container_id) if 0 < len(container_id) <= 128 else None
    if workload is None or workload.tenant_id != actor.tenant_id or not workload.owner.startswith(MANAGED_OWNERS):
        raise NotFound("no such container", code="container_not_found")
    return workload


class ContainerKind(enum.StrEnum):
    INSTALLATION = "installation"
    SANDBOX = "sandbox"
    RESOURCE = "resource"


@dataclass(frozen=True, slots=True)
class ContainerFilter:
    """What a container list may be narrowed by: what owns the workload, and its state."""

    kind: ContainerKind | None = None
    state: WorkloadState | None = None

    def keeps(self, workload: Workload) -> bool:
        kind_ok = self.kind is None or workload.owner.startswith(f"{self.kind.value}:")
        return kind_ok and (self.state is None or workload.state is self.state)


@dataclass(frozen=True, slots=True)
class ListContainers:
    """The tenant's managed containers (installations, sandboxes, resources) with their state, image and
    owner; narrowed by ``chosen`` if given."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    runtime: ContainerRuntime

    async def __call__(
        self, actor: Principal, page: PageRequest, chosen: ContainerFilter | None = None
    ) -> Page[ContainerView]:
        actor.require(self.scope)
        workloads = await _tenant_workloads(self.runtime, actor.tenant_id)
        if chosen is not None:
            workloads = [w for w in workloads if chosen.keeps(w)]
        return page.answer(page.window(workloads), ContainerView.of)


@dataclass(frozen=True, slots=True)
class GetContainer:
    """One managed container of the tenant."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    runtime: ContainerRuntime

    async def __call__(self, actor: Principal, container_id: str) -> ContainerView:
        actor.require(self.scope)
        return ContainerView.of(await _workload(self.runtime, actor, container_id))


@dataclass(frozen=True, slots=True)
class ContainerLifecycle:
    """Start, stop, restart or remove a managed container (tenant owners and admins). An installation whose
    container is stopped or removed starts again on its next tool call."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    runtime: ContainerRuntime
    servers: InstallationServers

    async def __call__(self, actor: Principal, container_id: str, action: str) -> ContainerActionView:
        actor.require(self.scope)
        wanted = parse_action(action)
        workload = await _workload(self.runtime, actor, container_id)
        if actor.role not in (Role.OWNER, Role.ADMIN) and not actor.is_platform_admin:
            raise Forbidden("only tenant owners and admins act on containers", code="not_a_manager")
        installation_id = installation_of(workload.owner)
        if installation_id is not None and wanted is not ContainerAction.START:
            await self.servers.forget(installation_id)
        if wanted is ContainerAction.START:
            result: Workload | None = await self.runtime.start(workload.id)
        elif wanted is ContainerAction.STOP:
            result = await self.runtime.stop(workload.id)
        elif wanted is ContainerAction.RESTART:
            result = await self.runtime.restart(workload.id)
        else:
            await self.runtime.remove(workload.id)
            result = None
        if installation_id is not None and wanted is not ContainerAction.START:
            await self.servers.mark(installation_id, InstallationStatus.STOPPED, f"container {wanted.value} by a user")
        return ContainerActionView(
            id=workload.id, action=wanted.value, container=ContainerView.of(result) if result is not None else None
        )


@dataclass(frozen=True, slots=True)
class Containers:
    """/api/containers."""

    list: ListContainers
    get: GetContainer
    action: ContainerLifecycle


def containers(p: Ports, *, servers: InstallationServers) -> Containers:
    return Containers(
        list=ListContainers(p.runtime), get=GetContainer(p.runtime), action=ContainerLifecycle(p.runtime, servers)
    )
