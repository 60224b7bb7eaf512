"""Project tools: projects, the catalog, resources, and health. Each calls the REST twin's use case."""

from typing import Annotated, Any

from pydantic import Field

from tesserra_core.domain.catalog import Catalog
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.domain.projects import ProjectFilter, ProjectStatus
from tesserra_core.domain.resources import DesiredState
from tesserra_core.facade import UseCases
from tesserra_core.usecases import health, projects, resources
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.health import HealthReport
from tesserra_core.usecases.projects import NewProject, ProjectChanges, ProjectView
from tesserra_core.usecases.resources import NewResource, ResourceChanges, ResourceView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

ProjectId = Annotated[str, Field(description="The project's id.")]
ResourceId = Annotated[str, Field(description="The resource's id.")]
Config = Annotated[dict[str, Any], Field(description="Configuration, checked against the type's JSON Schema.")]


@tools.tool(projects.ListProjects, rate_limit=CONSOLE)
async def list_projects(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    status: Annotated[ProjectStatus | None, Field(description="Only projects in this status.")] = None,
    name: Annotated[str | None, Field(description="Only projects whose name contains this (any case).")] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[ProjectView]:
    narrowed = convert(ProjectFilter, {"status": status, "name": name or None})
    return await uc.projects.list(actor, PageRequest(limite, offset), narrowed)


@tools.tool(projects.GetProject, rate_limit=CONSOLE)
async def get_project(project_id: ProjectId, *, uc: UseCases, actor: Principal) -> ProjectView:
    return await uc.projects.get(actor, project_id)


@tools.tool(projects.CreateProject, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_project(
    name: Annotated[str, Field(description="Unique in the tenant (any case).")],
    description: str = "",
    *,
    uc: UseCases,
    actor: Principal,
) -> ProjectView:
    return await uc.projects.create(actor, convert(NewProject, {"name": name, "description": description}))


@tools.tool(projects.UpdateProject, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_project(
    project_id: ProjectId,
    name: str | None = None,
    description: str | None = None,
    status: ProjectStatus | None = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ProjectView:
    return await uc.projects.update(
        actor, project_id, convert(ProjectChanges, {"name": name, "description": description, "status": status})
    )


@tools.tool(projects.DeleteProject, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_project(project_id: ProjectId, *, uc: UseCases, actor: Principal) -> dict[str, Any]:
    await uc.projects.delete(actor, project_id)
    return {"deleted": project_id}


# The catalog is public over REST (ListCatalog checks no scope); as a tool it is shown to keys that work
# with projects.
@tools.tool(projects.ListCatalog, scope=Scope.PROJECTS_READ)
async def list_catalog(*, uc: UseCases, actor: Principal) -> Catalog:
    """Public over REST; as a tool it is shown to keys that work with projects."""
    return await uc.projects.catalog()


@tools.tool(resources.ListResources, rate_limit=CONSOLE)
async def list_resources(
    project_id: ProjectId,
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[ResourceView]:
    return await uc.resources.list(actor, project_id, PageRequest(limite, offset))


@tools.tool(resources.GetResource, rate_limit=CONSOLE)
async def get_resource(resource_id: ResourceId, *, uc: UseCases, actor: Principal) -> ResourceView:
    return await uc.resources.get(actor, resource_id)


@tools.tool(resources.CreateResource, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_resource(
    project_id: ProjectId,
    type: Annotated[str, Field(description="A type from list_catalog.")],
    name: str,
    config: Config | None = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ResourceView:
    """Follow it with get_resource."""
    return await uc.resources.create(
        actor, project_id, convert(NewResource, {"type": type, "name": name, "config": config or {}})
    )


@tools.tool(resources.UpdateResource, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_resource(
    resource_id: ResourceId,
    name: str | None = None,
    config: Config | None = None,
    state: Annotated[DesiredState | None, Field(description="stopped or running.")] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ResourceView:
    return await uc.resources.update(
        actor, resource_id, convert(ResourceChanges, {"name": name, "config": config, "state": state})
    )


@tools.tool(resources.DeleteResource, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_resource(resource_id: ResourceId, *, uc: UseCases, actor: Principal) -> ResourceView:
    return await uc.resources.delete(actor, resource_id)


@tools.tool(health.ProjectHealth, rate_limit=CONSOLE)
async def project_health(project_id: ProjectId, *, uc: UseCases, actor: Principal) -> HealthReport:
    return await uc.health.project(actor, project_id)


@tools.tool(health.TenantHealth)
async def tenant_health(*, uc: UseCases, actor: Principal) -> HealthReport:
    return await uc.health.tenant(actor)
