"""/api/agentes and /api/verticais (public), /api/admin/agentes (platform admins' CRUD) and
/api/tenants/atual/agentes (the tenant's agents: its members list them, its owners and admins add,
edit and delete private ones)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.agents import (
    AdminGetAgent,
    AdminListAgents,
    AgentChanges,
    AgentDetailView,
    AgentFilter,
    AgentView,
    CreateAgent,
    CreatePrivateAgent,
    DeleteAgent,
    DeletePrivateAgent,
    GetAgent,
    GetPrivateAgent,
    ListAgents,
    ListVerticals,
    NewAgent,
    UpdateAgent,
    UpdatePrivateAgent,
    VerticalView,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

Vertical = Annotated[str | None, QueryParameter(max_length=64, description="Only the agents of this vertical.")]


def routes(uc: UseCases) -> Router:
    @get("/agentes", **declare(uses=ListAgents, public=True, errors=(400,)))
    async def list_agents(page: Paging, vertical: Vertical = None) -> Page[AgentView]:
        return await uc.agents.list(page, AgentFilter(vertical=vertical))

    @get("/agentes/{agent_id:str}", **declare(uses=GetAgent, public=True, errors=(404,)))
    async def get_agent(agent_id: FromPath[str]) -> AgentView:
        return await uc.agents.get(agent_id)

    @get("/verticais", **declare(uses=ListVerticals, public=True, errors=(400,)))
    async def list_verticals(page: Paging) -> Page[VerticalView]:
        return await uc.agents.verticals(page)

    return Router("/api", tags=["Agentes"], route_handlers=[list_agents, get_agent, list_verticals])


def admin_routes(uc: UseCases) -> Router:
    rules: dict[str, Any] = {"rate_limit": "admin"}

    @get("/", **declare(uses=AdminListAgents, errors=(400, 403), **rules))
    async def list_all(request: Caller, page: Paging) -> Page[AgentDetailView]:
        return await uc.agents.admin_list(request.user, page)

    @post("/", status_code=201, **declare(uses=CreateAgent, idempotent=True, errors=(400, 403, 409, 422), **rules))
    async def create(data: JSONBody[NewAgent], request: Caller) -> AgentDetailView:
        return await uc.agents.create(request.user, data)

    @get("/{agent_id:str}", **declare(uses=AdminGetAgent, errors=(403, 404), **rules))
    async def get_one(agent_id: FromPath[str], request: Caller) -> AgentDetailView:
        return await uc.agents.admin_get(request.user, agent_id)

    @patch("/{agent_id:str}", **declare(uses=UpdateAgent, errors=(400, 403, 404, 409, 422), **rules))
    async def update(agent_id: FromPath[str], data: JSONBody[AgentChanges], request: Caller) -> AgentDetailView:
        return await uc.agents.update(request.user, agent_id, data)

    @delete("/{agent_id:str}", status_code=204, **declare(uses=DeleteAgent, errors=(403, 404, 409), **rules))
    async def remove(agent_id: FromPath[str], request: Caller) -> None:
        await uc.agents.delete(request.user, agent_id)

    handlers = [list_all, create, get_one, update, remove]
    return Router("/api/admin/agentes", tags=["Admin", "Agentes"], route_handlers=handlers)


def tenant_routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListAgents, errors=(400, 403)))
    async def list_visible(request: Caller, page: Paging, vertical: Vertical = None) -> Page[AgentView]:
        return await uc.agents.list(page, AgentFilter(vertical=vertical), request.user)

    @post("/", status_code=201, **declare(uses=CreatePrivateAgent, idempotent=True, errors=(400, 403, 409, 422)))
    async def create(data: JSONBody[NewAgent], request: Caller) -> AgentDetailView:
        return await uc.agents.create_private(request.user, data)

    @get("/{agent_id:str}", **declare(uses=GetPrivateAgent, errors=(403, 404)))
    async def get_one(agent_id: FromPath[str], request: Caller) -> AgentDetailView:
        return await uc.agents.get_private(request.user, agent_id)

    @patch("/{agent_id:str}", **declare(uses=UpdatePrivateAgent, errors=(400, 403, 404, 409, 422)))
    async def update(agent_id: FromPath[str], data: JSONBody[AgentChanges], request: Caller) -> AgentDetailView:
        return await uc.agents.update_private(request.user, agent_id, data)

    @delete("/{agent_id:str}", status_code=204, **declare(uses=DeletePrivateAgent, errors=(403, 404, 409)))
    async def remove(agent_id: FromPath[str], request: Caller) -> None:
        await uc.agents.delete_private(request.user, agent_id)

    handlers = [list_visible, create, get_one, update, remove]
    return Router("/api/tenants/atual/agentes", tags=["Agentes"], route_handlers=handlers)
