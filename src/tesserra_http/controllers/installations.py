"""/api/installations: installed tool servers, their tools, tool calls and workspace uploads."""

from __future__ import annotations

from litestar import Router, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.installations import (
    CallInstallationTool,
    GetInstallation,
    InstallationChanges,
    ListInstallations,
    ListInstallationTools,
    RemoveInstallation,
    ToolCall,
    UpdateInstallation,
    Upload,
    UploadInstallationFiles,
)
from tesserra_core.usecases.tool_views import InstallationToolsView, InstallationView, ToolCallView, UploadView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

UPLOAD_BODY_LIMIT = 32 * 1024 * 1024


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListInstallations, errors=(400, 403)))
    async def list_installations(request: Caller, page: Paging) -> Page[InstallationView]:
        return await uc.installations.list(request.user, page)

    @get("/{installation_id:str}", **declare(uses=GetInstallation, errors=(403, 404)))
    async def get_installation(installation_id: FromPath[str], request: Caller) -> InstallationView:
        return await uc.installations.get(request.user, installation_id)

    @patch("/{installation_id:str}", status_code=202, **declare(uses=UpdateInstallation, errors=(400, 403, 404, 409)))
    async def update_installation(
        installation_id: FromPath[str], data: JSONBody[InstallationChanges], request: Caller
    ) -> InstallationView:
        return await uc.installations.update(request.user, installation_id, data)

    @delete("/{installation_id:str}", status_code=204, **declare(uses=RemoveInstallation, errors=(403, 404)))
    async def remove_installation(installation_id: FromPath[str], request: Caller) -> None:
        await uc.installations.remove(request.user, installation_id)

    @get("/{installation_id:str}/tools", **declare(uses=ListInstallationTools, errors=(403, 404)))
    async def list_tools(installation_id: FromPath[str], request: Caller) -> InstallationToolsView:
        return await uc.installations.list_tools(request.user, installation_id)

    @post(
        "/{installation_id:str}/tools/call",
        status_code=200,
        **declare(uses=CallInstallationTool, errors=(400, 403, 404, 409, 422, 503)),
    )
    async def call_tool(installation_id: FromPath[str], data: JSONBody[ToolCall], request: Caller) -> ToolCallView:
        return await uc.installations.call_tool(request.user, installation_id, data)

    @post(
        "/{installation_id:str}/files",
        status_code=201,
        request_max_body_size=UPLOAD_BODY_LIMIT,
        **declare(
            uses=UploadInstallationFiles,
            errors=(400, 403, 404),
            description="The body is multipart/form-data, with any field names.",
        ),
    )
    async def upload(installation_id: FromPath[str], request: Caller) -> UploadView:
        files: list[Upload] = []
        if (request.content_type[0] or "").startswith("multipart/form-data"):
            form = await request.form()
            for _, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files.append(Upload(value.filename or "", await value.read()))
        return await uc.installations.upload_files(request.user, installation_id, files)

    handlers = [
        list_installations,
        get_installation,
        update_installation,
        remove_installation,
        list_tools,
        call_tool,
        upload,
    ]
    return Router("/api/installations", tags=["Installations"], route_handlers=handlers)
