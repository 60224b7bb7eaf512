"""/api/sandboxes: isolated runtimes of the tenant, their lifecycle actions and their clocks."""

from __future__ import annotations

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.domain.sandboxes import SandboxAction
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sandbox_views import NewSandbox, SandboxChanges, SandboxView
from tesserra_core.usecases.sandboxes import (
    ActOnSandbox,
    CreateSandbox,
    DeleteSandbox,
    GetSandbox,
    ListSandboxes,
    UpdateSandbox,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListSandboxes, errors=(400, 403)))
    async def list_sandboxes(request: Caller, page: Paging) -> Page[SandboxView]:
        return await uc.sandboxes.list(request.user, page)

    @post("/", status_code=201, **declare(uses=CreateSandbox, idempotent=True, errors=(400, 402, 403, 422)))
    async def create_sandbox(data: JSONBody[NewSandbox], request: Caller) -> SandboxView:
        return await uc.sandboxes.create(request.user, data)

    @get("/{sandbox_id:str}", **declare(uses=GetSandbox, errors=(403, 404)))
    async def get_sandbox(sandbox_id: FromPath[str], request: Caller) -> SandboxView:
        return await uc.sandboxes.get(request.user, sandbox_id)

    @patch("/{sandbox_id:str}", **declare(uses=UpdateSandbox, errors=(400, 402, 403, 404, 409)))
    async def update_sandbox(sandbox_id: FromPath[str], data: JSONBody[SandboxChanges], request: Caller) -> SandboxView:
        return await uc.sandboxes.update(request.user, sandbox_id, data)

    @delete("/{sandbox_id:str}", status_code=200, **declare(uses=DeleteSandbox, errors=(403, 404, 409)))
    async def delete_sandbox(sandbox_id: FromPath[str], request: Caller) -> SandboxView:
        return await uc.sandboxes.delete(request.user, sandbox_id)

    @post("/{sandbox_id:str}/{action:str}", status_code=200, **declare(uses=ActOnSandbox, errors=(400, 403, 404, 409)))
    async def sandbox_action(
        sandbox_id: FromPath[str], action: FromPath[SandboxAction], request: Caller
    ) -> SandboxView:
        return await uc.sandboxes.action(request.user, sandbox_id, action)

    handlers = [list_sandboxes, create_sandbox, get_sandbox, update_sandbox, delete_sandbox, sandbox_action]
    return Router("/api/sandboxes", tags=["Sandboxes"], route_handlers=handlers)
