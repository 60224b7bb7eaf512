"""/api/containers: the tenant's managed containers (installations, sandboxes, resources)."""

from __future__ import annotations

from litestar import Router, get, post
from litestar.params import FromPath

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.containers import ContainerAction, ContainerLifecycle, GetContainer, ListContainers
from tesserra_core.usecases.tool_views import ContainerActionView, ContainerView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListContainers, errors=(400, 403)))
    async def list_containers(request: Caller, page: Paging) -> Page[ContainerView]:
        return await uc.containers.list(request.user, page)

    @get("/{container_id:str}", **declare(uses=GetContainer, errors=(403, 404)))
    async def get_container(container_id: FromPath[str], request: Caller) -> ContainerView:
        return await uc.containers.get(request.user, container_id)

    @post(
        "/{container_id:str}/{action:str}",
        status_code=200,
        **declare(uses=ContainerLifecycle, errors=(400, 403, 404, 409)),
    )
    async def container_action(
        container_id: FromPath[str], action: FromPath[ContainerAction], request: Caller
    ) -> ContainerActionView:
        return await uc.containers.action(request.user, container_id, action)

    return Router(
        "/api/containers", tags=["Containers"], route_handlers=[list_containers, get_container, container_action]
    )
