"""Agent tools: the agents the caller sees (the platform's and its tenant's private ones) and the
verticals. Each calls the use case of its REST twin under /api/tenants/atual/agentes and /api/verticais."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import agents
from tesserra_core.usecases.agents import AgentFilter, AgentView, VerticalView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(agents.ListAgents)
async def list_agents(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    vertical: Annotated[str | None, Field(description="Only the agents of this vertical.")] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[AgentView]:
    return await uc.agents.list(PageRequest(limite, offset), convert(AgentFilter, {"vertical": vertical}), actor)


@tools.tool(agents.ListVerticals, scope=Scope.CHAT_READ)
async def list_verticals(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[VerticalView]:
    return await uc.agents.verticals(PageRequest(limite, offset))
