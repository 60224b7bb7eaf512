"""Project file tools: list and delete (under the projects scopes). Each calls the REST twin's use case.
File bytes stay on REST (upload and download)."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.files import DeleteProjectFile, ListProjectFiles, ProjectFileView
from tesserra_core.usecases.guards import CONSOLE
from tesserra_mcp.registry import Limite, Offset, ToolSet
from tesserra_mcp.tools.projects import ProjectId

tools = ToolSet()

FileId = Annotated[str, Field(description="The file's id.")]


@tools.tool(ListProjectFiles, rate_limit=CONSOLE)
async def list_project_files(
    project_id: ProjectId, limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[ProjectFileView]:
    """A project's files, by name, with size, type and SHA-256 (bytes go over REST)."""
    return await uc.files.list(actor, project_id, PageRequest(limite, offset))


@tools.tool(DeleteProjectFile, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_project_file(
    project_id: ProjectId,
    file_id: FileId,
    *,
    uc: UseCases,
    actor: Principal,
) -> dict[str, str]:
    """Delete a project file."""
    await uc.files.delete(actor, project_id, file_id)
    return {"deleted": file_id}
