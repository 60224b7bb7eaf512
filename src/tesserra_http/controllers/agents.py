"""/api/agentes and /api/verticais: the platform's agents and verticals, public."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get
from litestar.params import FromPath, QueryParameter

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.agents import AgentFilter, AgentView, GetAgent, ListAgents, ListVerticals, VerticalView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Paging


def routes(uc: UseCases) -> Router:
    @get("/agentes", **declare(uses=ListAgents, public=True, errors=(400,)))
    async def list_agents(
        page: Paging,
        vertical: Annotated[
            str | None, QueryParameter(max_length=64, description="Only the agents of this vertical.")
        ] = None,
    ) -> Page[AgentView]:
        return await uc.agents.list(page, AgentFilter(vertical=vertical))

    @get("/agentes/{agent_id:str}", **declare(uses=GetAgent, public=True, errors=(404,)))
    async def get_agent(agent_id: FromPath[str]) -> AgentView:
        return await uc.agents.get(agent_id)

    @get("/verticais", **declare(uses=ListVerticals, public=True, errors=(400,)))
    async def list_verticals(page: Paging) -> Page[VerticalView]:
        return await uc.agents.verticals(page)

    return Router("/api", tags=["Agentes"], route_handlers=[list_agents, get_agent, list_verticals])
