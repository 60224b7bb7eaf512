"""Shared tools: the tools every member uses with their own linked account."""

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import shared_tools
from tesserra_core.usecases.shared_tools import SharedToolView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(shared_tools.ListSharedTools)
async def list_shared_tools(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[SharedToolView]:
    """Link your account to one with POST /api/shared-tools/{toolId}/oauth/state, in a browser."""
    return await uc.shared_tools.list(actor, PageRequest(limite, offset))
