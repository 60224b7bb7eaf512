"""Managed containers: the tenant's workloads (installations, sandboxes, resources) and their lifecycle.

Only workloads this platform manages are listed (the runtime lists by owner label), and only the
caller's tenant's: another tenant's workload answers 404. Several nodes: each node's runtime knows only
its own workloads, so the others' come from the records every node writes in the shared database (as
their node last recorded them); the list is the same from every node. Only a workload's own node can act
on it: an action reaching another node answers 409 ``container_on_other_node``. Actions need
``tools:write`` and a tenant owner or admin (or a platform administrator). An action on an installation's
workload keeps the installation coherent: its pooled session is dropped and the next tool call starts it
afresh.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import ClassVar

from tesserra_core.domain.identity import Principal, Role, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.tools import InstallationStatus, installation_of
from tesserra_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.nodes import Nodes
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


def _managed(workload: Workload, tenant_id: str) -> bool:
    return workload.tenant_id == tenant_id and workload.owner.startswith(MANAGED_OWNERS)


async def _tenant_workloads(runtime: ContainerRuntime, nodes: Nodes, node_id: str, tenant_id: str) -> list[Workload]:
    """This node's from its runtime, and the other nodes' as they recorded them. The runtime's
    ``statuses`` say whose each workload is; only the tenant's are inspected (on Docker, one listing
    and an inspection per workload of the tenant's, not one per workload on the node)."""
    found = {}
    for workload_id, status in (await runtime.statuses()).items():
        if status.tenant_id == tenant_id and status.owner.startswith(MANAGED_OWNERS):
            workload = await runtime.inspect(workload_id)
            if workload is not None and _managed(workload, tenant_id):  # not removed, nor handed on, meanwhile
                found[workload_id] = workload
    for record in await nodes.workloads_of_tenant(tenant_id):
        if record.node_id != node_id and record.snapshot is not None and _managed(record.snapshot, tenant_id):
            found.setdefault(record.workload_id, record.snapshot)
    return sorted(found.values(), key=lambda w: w.id)


_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


async def _workload(
    runtime: ContainerRuntime, nodes: Nodes, node_id: str, actor: Principal, container_id: str
) -> tuple[Workload, bool]:
    """The tenant's managed workload, and whether it is this node's (else: another node's record)."""
    if _CONTAINER_ID.fullmatch(container_id) is None:  # no runtime names one otherwise; nor may a lookup see it
        raise NotFound("no such container", code="container_not_found")
    workload = await runtime.inspect(container_id)
    if workload is not None and _managed(workload, actor.tenant_id):
        return workload, True
    record = await nodes.workload(container_id) if workload is None else None
    theirs = record.snapshot if record is not None and record.node_id != node_id else None
    if theirs is not None and _managed(theirs, actor.tenant_id):
        return theirs, False
    raise NotFound("no such container", code="container_not_found")


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
    nodes: Nodes
    node_id: str

    async def __call__(
        self, actor: Principal, page: PageRequest, chosen: ContainerFilter | None = None
    ) -> Page[ContainerView]:
        actor.require(self.scope)
        workloads = await _tenant_workloads(self.runtime, self.nodes, self.node_id, actor.tenant_id)
        if chosen is not None:
            workloads = [w for w in workloads if chosen.keeps(w)]
        return page.answer(page.window(workloads), ContainerView.of)


@dataclass(frozen=True, slots=True)
class GetContainer:
    """One managed container of the tenant."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    runtime: ContainerRuntime
    nodes: Nodes
    node_id: str

    async def __call__(self, actor: Principal, container_id: str) -> ContainerView:
        actor.require(self.scope)
        workload, _ = await _workload(self.runtime, self.nodes, self.node_id, actor, container_id)
        return ContainerView.of(workload)


@dataclass(frozen=True, slots=True)
class ContainerLifecycle:
    """Start, stop, restart or remove a managed container (tenant owners and admins). An installation whose
    container is stopped or removed starts again on its next tool call."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    runtime: ContainerRuntime
    servers: InstallationServers
    nodes: Nodes
    node_id: str

    async def __call__(self, actor: Principal, container_id: str, action: str) -> ContainerActionView:
        actor.require(self.scope)
        wanted = parse_action(action)
        workload, ours = await _workload(self.runtime, self.nodes, self.node_id, actor, container_id)
        if actor.role not in (Role.OWNER, Role.ADMIN) and not actor.is_platform_admin:
            raise Forbidden("only tenant owners and admins act on containers", code="not_a_manager")
        if not ours:
            raise Conflict(
                "the container runs on another node, which alone can act on it: send the request again"
                " (the balancer spreads requests over the nodes)",
                code="container_on_other_node",
            )
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
        list=ListContainers(p.runtime, p.nodes, p.node_id),
        get=GetContainer(p.runtime, p.nodes, p.node_id),
        action=ContainerLifecycle(p.runtime, servers, p.nodes, p.node_id),
    )
