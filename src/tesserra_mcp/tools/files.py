"""Project file tools: list and delete (under the projects scopes). Each calls the REST twin's use case.
File bytes stay on REST (upload and download)."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import files
from tesserra_core.usecases.files import ProjectFileView
from tesserra_core.usecases.guards import CONSOLE
from tesserra_mcp.registry import Limite, Offset, ToolSet
from tesserra_mcp.tools.projects import ProjectId

tools = ToolSet()

FileId = Annotated[str, Field(description="The file's id.")]


@tools.tool(files.ListProjectFiles, rate_limit=CONSOLE)
async def list_project_files(
    project_id: ProjectId, limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[ProjectFileView]:
    """The bytes go over REST (upload and download)."""
    return await uc.files.list(actor, project_id, PageRequest(limite, offset))


@tools.tool(files.DeleteProjectFile, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_project_file(
    project_id: ProjectId,
    file_id: FileId,
    *,
    uc: UseCases,
    actor: Principal,
) -> dict[str, str]:
    await uc.files.delete(actor, project_id, file_id)
    return {"deleted": file_id}
