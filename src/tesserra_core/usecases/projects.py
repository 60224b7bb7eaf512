"""Projects: list (with filters), create (within the plan's quota), get, update, delete; and the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Protocol

import msgspec

from tesserra_core.domain.catalog import Catalog, catalog
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.projects import (
    MAX_NAME,
    Project,
    ProjectFilter,
    ProjectStatus,
    check_project_name,
)
from tesserra_core.domain.resources import Resource
from tesserra_core.domain.text import Input, Text, check_description, name_meta
from tesserra_core.errors import found
from tesserra_core.ports import Ports
from tesserra_core.ports.files import FileStorage
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.views import View


class Provisioning(Protocol):
    """What the use cases ask of the background provisioner (``runners.provisioner``)."""

    def admit(self, resource: Resource) -> None: ...

    def schedule(self, resource_id: str) -> None: ...

    def release(self, resources: Sequence[Resource]) -> None: ...

    async def stop(self, resource: Resource) -> None: ...


class NewProject(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(MAX_NAME), msgspec.Meta(examples=["loja-online"])]
    description: Text = ""


class ProjectChanges(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(MAX_NAME)] | None = None
    description: Text | None = None
    status: ProjectStatus | None = None


class ProjectView(View[Project], frozen=True):
    id: str
    name: str
    description: str
    status: ProjectStatus
    created_at: datetime
    updated_at: datetime


async def project_of(uow: UnitOfWork, actor: Principal, project_id: str) -> Project:
    """The caller's tenant's project, or 404 (another tenant's project looks exactly like a missing one)."""
    return found(await uow.projects.get(actor.tenant_id, project_id), "no such project", code="project_not_found")


@dataclass(frozen=True, slots=True)
class ListProjects:
    """The tenant's projects, newest first, narrowed by status or by a part of the name (any case)."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest, where: ProjectFilter) -> Page[ProjectView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.projects.list(actor.tenant_id, page, where), ProjectView.of)


@dataclass(frozen=True, slots=True)
class GetProject:
    """One project of the tenant."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, project_id: str) -> ProjectView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return ProjectView.of(await project_of(uow, actor, project_id))


@dataclass(frozen=True, slots=True)
class CreateProject:
    """Create a project. Names are unique in the tenant (any case); the plan limits how many."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    entitlements: Entitlements
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewProject) -> ProjectView:
        actor.require(self.scope)
        name = check_project_name(cmd.name)
        description = check_description(cmd.description)
        entitlement = await self.entitlements.of(actor.tenant_id)
        now = self.clock.now()
        project = Project(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            name=name,
            description=description,
            status=ProjectStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)  # the count below holds until commit
            entitlement.allow("projects", await uow.projects.count(actor.tenant_id))
            await uow.projects.add(project)
            await uow.commit()
        return ProjectView.of(project)


@dataclass(frozen=True, slots=True)
class UpdateProject:
    """Rename, describe, archive or reactivate a project."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, project_id: str, changes: ProjectChanges) -> ProjectView:
        actor.require(self.scope)
        async with self.uow() as uow:
            project = await project_of(uow, actor, project_id)
            updated = msgspec.structs.replace(
                project,
                name=check_project_name(changes.name) if changes.name is not None else project.name,
                description=(
                    check_description(changes.description) if changes.description is not None else project.description
                ),
                status=changes.status or project.status,
                updated_at=self.clock.now(),
            )
            await uow.projects.update(updated)
            await uow.commit()
        return ProjectView.of(updated)


@dataclass(frozen=True, slots=True)
class DeleteProject:
    """Delete a project with its resources and its files, at once. Their workloads are removed in the background
    (any that a crash leaves behind are reaped when the server starts), the files' bytes right after."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    provisioner: Provisioning
    storage: FileStorage

    async def __call__(self, actor: Principal, project_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            await project_of(uow, actor, project_id)
            resources = await uow.resources.all_of(actor.tenant_id, project_id)
            stored = await uow.project_files.delete_project(actor.tenant_id, project_id)
            await uow.projects.delete(actor.tenant_id, project_id)
            await uow.commit()
        self.provisioner.release([r for r in resources if r.workload_id is not None])
        for key in stored:
            await self.storage.delete(key)


@dataclass(frozen=True, slots=True)
class ListCatalog:
    """The resource types a project can hold, each with the JSON Schema of its configuration and its limits per
    plan. Versioned with the server."""

    async def __call__(self) -> Catalog:
        return catalog()


@dataclass(frozen=True, slots=True)
class Projects:
    """/api/projetos and /api/projetos/catalogo."""

    catalog: ListCatalog
    list: ListProjects
    get: GetProject
    create: CreateProject
    update: UpdateProject
    delete: DeleteProject


def projects(p: Ports, *, provisioner: Provisioning) -> Projects:
    return Projects(
        catalog=ListCatalog(),
        list=ListProjects(p.uow),
        get=GetProject(p.uow),
        create=CreateProject(p.uow, p.entitlements, p.ids, p.clock),
        update=UpdateProject(p.uow, p.clock),
        delete=DeleteProject(p.uow, provisioner, p.file_storage),
    )
