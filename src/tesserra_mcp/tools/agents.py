"""Agent and chat tools: the catalog of agents and verticals, and the caller's conversations. Each calls
the use case of its REST twin under /api/agentes, /api/verticais and /api/conversas."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import agents, conversations
from tesserra_core.usecases.agents import AgentFilter, AgentView, VerticalView
from tesserra_core.usecases.conversations import (
    ConversationView,
    Exchange,
    MessageView,
    NewConversation,
    NewMessage,
)
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

ConversationId = Annotated[str, Field(description="The conversation's id.")]


@tools.tool(agents.ListAgents, scope=Scope.CHAT_READ)
async def list_agents(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    vertical: Annotated[str | None, Field(description="Only the agents of this vertical.")] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[AgentView]:
    return await uc.agents.list(PageRequest(limite, offset), convert(AgentFilter, {"vertical": vertical}))


@tools.tool(agents.ListVerticals, scope=Scope.CHAT_READ)
async def list_verticals(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[VerticalView]:
    return await uc.agents.verticals(PageRequest(limite, offset))


@tools.tool(conversations.StartConversation)
async def start_conversation(
    agent_id: Annotated[str, Field(description="The agent's id (see list_agents).")],
    title: str | None = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ConversationView:
    return await uc.conversations.start(actor, convert(NewConversation, {"agent_id": agent_id, "title": title}))


@tools.tool(conversations.SendMessage)
async def send_message(conversation_id: ConversationId, content: str, *, uc: UseCases, actor: Principal) -> Exchange:
    return await uc.conversations.send(actor, conversation_id, convert(NewMessage, {"content": content}))


@tools.tool(conversations.ListMessages)
async def list_messages(
    conversation_id: ConversationId,
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[MessageView]:
    return await uc.conversations.messages(actor, conversation_id, PageRequest(limite, offset))
