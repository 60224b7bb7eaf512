"""Resources of a project: create (validated against the catalog, within quotas), list, get,
update (rename, reconfigure, stop or start) and delete, all provisioned in the background."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

from tesserra_core.domain.catalog import catalog
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.resources import (
    MAX_NAME,
    DesiredState,
    Resource,
    ResourceStatus,
    check_resource_name,
    next_version,
)
from tesserra_core.domain.text import Input, Line, name_meta
from tesserra_core.errors import Conflict, ValidationFailed, found
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.projects import Provisioning, project_of
from tesserra_core.usecases.views import View


class NewResource(Input, frozen=True, forbid_unknown_fields=True):
    type: Annotated[Line, msgspec.Meta(examples=["web_app"], description="A type from /api/projetos/catalogo")]
    name: Annotated[str, name_meta(MAX_NAME), msgspec.Meta(examples=["site"])]
    config: Annotated[
        dict[str, Any],
        msgspec.Meta(examples=[{"image": "nginx:alpine", "port": 80}], description="Checked against the type's schema"),
    ] = msgspec.field(default_factory=dict)


class ResourceChanges(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(MAX_NAME)] | None = None
    config: dict[str, Any] | None = None
    """A new configuration replaces the old one (validated again) and provisions the resource anew."""
    state: DesiredState | None = None
    """``stopped`` stops a running container resource; ``running`` starts it again."""


class ResourceView(View[Resource], frozen=True):
    id: str
    project_id: str
    type: str
    name: str
    config: dict[str, Any]
    status: ResourceStatus
    status_reason: str
    endpoint: str | None
    created_at: datetime
    updated_at: datetime


_RESTARTABLE = (ResourceStatus.STOPPED, ResourceStatus.FAILED)


async def resource_of(uow: UnitOfWork, actor: Principal, resource_id: str) -> Resource:
    return found(await uow.resources.get(actor.tenant_id, resource_id), "no such resource", code="resource_not_found")


def _config(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed("config: must be an object", code="invalid_config")
    return value


@dataclass(frozen=True, slots=True)
class ListResources:
    """A project's resources, oldest first."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, project_id: str, page: PageRequest) -> Page[ResourceView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            await project_of(uow, actor, project_id)
            return page.answer(await uow.resources.list(actor.tenant_id, project_id, page), ResourceView.of)


@dataclass(frozen=True, slots=True)
class GetResource:
    """One resource, with its status (and the reason of a failure)."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, resource_id: str) -> ResourceView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return ResourceView.of(await resource_of(uow, actor, resource_id))


@dataclass(frozen=True, slots=True)
class CreateResource:
    """Add a resource of a catalog type to a project. It answers at once with status ``pending``; provisioning
    runs in the background, to ``running`` or ``failed`` (with its reason). A bad configuration is refused
    naming the field; the plan's quotas naming the quota."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    entitlements: Entitlements
    provisioner: Provisioning
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, project_id: str, cmd: NewResource) -> ResourceView:
        actor.require(self.scope)
        rtype = catalog().get(cmd.type)
        name = check_resource_name(cmd.name)
        config = rtype.validate(_config(cmd.config))
        entitlement = await self.entitlements.of(actor.tenant_id)
        rtype.check_plan(config, entitlement)
        now = self.clock.now()
        resource = Resource(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            project_id=project_id,
            type=rtype.type,
            name=name,
            config=config,
            status=ResourceStatus.PENDING,
            status_reason="",
            workload_id=None,
            endpoint=None,
            created_at=now,
            updated_at=now,
        )
        self.provisioner.admit(resource)
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)  # the count below holds until commit
            await project_of(uow, actor, project_id)
            entitlement.allow("resources", await uow.resources.count(actor.tenant_id))
            await uow.resources.add(resource)
            await uow.commit()
        self.provisioner.schedule(resource.id)
        return ResourceView.of(resource)


ATTEMPTS = 5
"""How often a use case re-reads and retries a resource the provisioner changed under it."""


@dataclass(frozen=True, slots=True)
class UpdateResource:
    """Rename a resource, replace its configuration (it is provisioned anew), or stop or start it (``state``:
    ``stopped`` or ``running``)."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    entitlements: Entitlements
    provisioner: Provisioning
    clock: Clock

    async def __call__(self, actor: Principal, resource_id: str, changes: ResourceChanges) -> ResourceView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            rtype = catalog().get((await resource_of(uow, actor, resource_id)).type)
        name = check_resource_name(changes.name) if changes.name is not None else None
        config = None
        if changes.config is not None:
            config = rtype.validate(_config(changes.config))
            rtype.check_plan(config, await self.entitlements.of(actor.tenant_id))
        for _ in range(ATTEMPTS):
            async with self.uow(read_only=True) as uow:
                current = await resource_of(uow, actor, resource_id)
            updated, stop, reprovision = self._apply(current, name, config, changes.state)
            if reprovision:
                self.provisioner.admit(updated)
            if stop:
                await self.provisioner.stop(current)
            async with self.uow() as uow:
                stored = await uow.resources.update(updated, if_updated_at=current.updated_at)
                await uow.commit()
            if stored:
                if reprovision:
                    self.provisioner.schedule(resource_id)
                return ResourceView.of(updated)
        raise Conflict("the resource kept changing while it was being updated; retry", code="resource_busy")

    def _apply(
        self, current: Resource, name: str | None, config: dict[str, Any] | None, state: DesiredState | None
    ) -> tuple[Resource, bool, bool]:
        """The resource as changed, whether to stop its workload, and whether to provision it anew."""
        if current.status is ResourceStatus.DELETING:
            raise Conflict("the resource is being deleted", code="resource_deleting")
        status, reason, stop, reprovision = current.status, current.status_reason, False, config is not None
        if state is DesiredState.STOPPED and current.status is not ResourceStatus.STOPPED:
            if current.status is not ResourceStatus.RUNNING:
                raise Conflict(f"only a running resource can be stopped (it is {current.status})", code="not_running")
            status, reason, stop, reprovision = ResourceStatus.STOPPED, "stopped on request", True, False
        elif state is DesiredState.RUNNING and current.status in _RESTARTABLE:
            reprovision = True
        if reprovision:
            status, reason = ResourceStatus.PENDING, ""
        updated = msgspec.structs.replace(
            current,
            name=name if name is not None else current.name,
            config=config if config is not None else current.config,
            status=status,
            status_reason=reason,
            updated_at=next_version(self.clock.now(), current.updated_at),
        )
        return updated, stop, reprovision


@dataclass(frozen=True, slots=True)
class DeleteResource:
    """Mark a resource ``deleting`` and answer at once; its workload is removed, then the resource, in the
    background."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    provisioner: Provisioning
    clock: Clock

    async def __call__(self, actor: Principal, resource_id: str) -> ResourceView:
        actor.require(self.scope)
        for _ in range(ATTEMPTS):
            async with self.uow() as uow:
                resource = await resource_of(uow, actor, resource_id)
                updated = msgspec.structs.replace(
                    resource,
                    status=ResourceStatus.DELETING,
                    status_reason="",
                    updated_at=next_version(self.clock.now(), resource.updated_at),
                )
                stored = await uow.resources.update(updated, if_updated_at=resource.updated_at)
                await uow.commit()
            if stored:
                self.provisioner.schedule(resource_id)
                return ResourceView.of(updated)
        raise Conflict("the resource kept changing while it was being deleted; retry", code="resource_busy")


@dataclass(frozen=True, slots=True)
class Resources:
    """/api/projetos/{id}/recursos and /api/recursos/{id}."""

    list: ListResources
    get: GetResource
    create: CreateResource
    update: UpdateResource
    delete: DeleteResource


def resources(p: Ports, *, provisioner: Provisioning) -> Resources:
    return Resources(
        list=ListResources(p.uow),
        get=GetResource(p.uow),
        create=CreateResource(p.uow, p.entitlements, provisioner, p.ids, p.clock),
        update=UpdateResource(p.uow, p.entitlements, provisioner, p.clock),
        delete=DeleteResource(p.uow, provisioner, p.clock),
    )
