"""/api/projetos (projects, the catalog, resources of a project, project health), /api/recursos and
/api/tenants/atual/saude. Every route under /api/projetos and /api/recursos counts against the
``console`` rate limit (60 requests per minute per token), except the public catalog."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from tesserra_core.domain.catalog import Catalog
from tesserra_core.domain.paging import Page
from tesserra_core.domain.projects import MAX_NAME, ProjectFilter, ProjectStatus
from tesserra_core.facade import UseCases
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.health import HealthReport, ProjectHealth, TenantHealth
from tesserra_core.usecases.projects import (
    CreateProject,
    DeleteProject,
    GetProject,
    ListCatalog,
    ListProjects,
    NewProject,
    ProjectChanges,
    ProjectView,
    UpdateProject,
)
from tesserra_core.usecases.resources import (
    CreateResource,
    DeleteResource,
    GetResource,
    ListResources,
    NewResource,
    ResourceChanges,
    ResourceView,
    UpdateResource,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

ISOLATION_NOTE = (
    "A container resource (web_app, cron_job, mcp_server) on a process runtime that cannot sandbox "
    "workloads answers 422 isolation_unavailable, naming the fix (install bubblewrap, use the docker "
    "runtime, or opt out with TESSERRA_PROCESS_ISOLATION=none-trusted-single-tenant)."
)


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListProjects, rate_limit=CONSOLE, errors=(400, 403)))
    async def list_projects(
        request: Caller,
        page: Paging,
        status: Annotated[ProjectStatus | None, QueryParameter(description="Only projects in this status.")] = None,
        name: Annotated[
            str | None,
            QueryParameter(max_length=MAX_NAME, description="Only projects whose name contains this (any case)."),
        ] = None,
    ) -> Page[ProjectView]:
        return await uc.projects.list(request.user, page, ProjectFilter(status=status, name=name or None))

    @post(
        "/",
        status_code=201,
        **declare(uses=CreateProject, rate_limit=CONSOLE, idempotent=True, errors=(400, 402, 403, 409)),
    )
    async def create_project(data: JSONBody[NewProject], request: Caller) -> ProjectView:
        return await uc.projects.create(request.user, data)

    @get("/catalogo", **declare(uses=ListCatalog, public=True))
    async def list_catalog() -> Catalog:
        return await uc.projects.catalog()

    @get("/{project_id:str}", **declare(uses=GetProject, rate_limit=CONSOLE, errors=(403, 404)))
    async def get_project(project_id: FromPath[str], request: Caller) -> ProjectView:
        return await uc.projects.get(request.user, project_id)

    @patch("/{project_id:str}", **declare(uses=UpdateProject, rate_limit=CONSOLE, errors=(400, 403, 404, 409)))
    async def update_project(project_id: FromPath[str], data: JSONBody[ProjectChanges], request: Caller) -> ProjectView:
        return await uc.projects.update(request.user, project_id, data)

    @delete("/{project_id:str}", status_code=204, **declare(uses=DeleteProject, rate_limit=CONSOLE, errors=(403, 404)))
    async def delete_project(project_id: FromPath[str], request: Caller) -> None:
        await uc.projects.delete(request.user, project_id)

    @get("/{project_id:str}/recursos", **declare(uses=ListResources, rate_limit=CONSOLE, errors=(400, 403, 404)))
    async def list_resources(project_id: FromPath[str], request: Caller, page: Paging) -> Page[ResourceView]:
        return await uc.resources.list(request.user, project_id, page)

    @post(
        "/{project_id:str}/recursos",
        status_code=202,
        **declare(
            uses=CreateResource,
            rate_limit=CONSOLE,
            idempotent=True,
            errors=(400, 402, 403, 404, 409, 422),
            description=f"Answers 202; follow it with GET /api/recursos/{{resource_id}}. {ISOLATION_NOTE}",
        ),
    )
    async def create_resource(project_id: FromPath[str], data: JSONBody[NewResource], request: Caller) -> ResourceView:
        return await uc.resources.create(request.user, project_id, data)

    @get("/{project_id:str}/saude", **declare(uses=ProjectHealth, rate_limit=CONSOLE, errors=(403, 404)))
    async def project_health(project_id: FromPath[str], request: Caller) -> HealthReport:
        return await uc.health.project(request.user, project_id)

    handlers = [
        list_projects,
        create_project,
        list_catalog,
        get_project,
        update_project,
        delete_project,
        list_resources,
        create_resource,
        project_health,
    ]
    return Router("/api/projetos", tags=["Projetos"], route_handlers=handlers)


def resource_routes(uc: UseCases) -> Router:
    @get("/{resource_id:str}", **declare(uses=GetResource, rate_limit=CONSOLE, errors=(403, 404)))
    async def get_resource(resource_id: FromPath[str], request: Caller) -> ResourceView:
        return await uc.resources.get(request.user, resource_id)

    @patch(
        "/{resource_id:str}",
        **declare(
            uses=UpdateResource, rate_limit=CONSOLE, errors=(400, 402, 403, 404, 409, 422), description=ISOLATION_NOTE
        ),
    )
    async def update_resource(
        resource_id: FromPath[str], data: JSONBody[ResourceChanges], request: Caller
    ) -> ResourceView:
        return await uc.resources.update(request.user, resource_id, data)

    @delete(
        "/{resource_id:str}", status_code=202, **declare(uses=DeleteResource, rate_limit=CONSOLE, errors=(403, 404))
    )
    async def delete_resource(resource_id: FromPath[str], request: Caller) -> ResourceView:
        return await uc.resources.delete(request.user, resource_id)

    return Router("/api/recursos", tags=["Recursos"], route_handlers=[get_resource, update_resource, delete_resource])


def tenant_health_routes(uc: UseCases) -> Router:
    @get("/atual/saude", **declare(uses=TenantHealth, errors=(403,)))
    async def tenant_health(request: Caller) -> HealthReport:
        return await uc.health.tenant(request.user)

    return Router("/api/tenants", tags=["Saúde"], route_handlers=[tenant_health])
