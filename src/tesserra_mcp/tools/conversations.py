"""Chat tools: start a conversation with an agent, send it a message (the whole answer comes back), list
its messages, cancel an answer being generated, approve or deny a destructive tool call an answer waits
on. Each calls the use case of its REST twin under /api/conversas."""

from typing import Annotated, Literal

from pydantic import Field

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import chat_approvals, conversations, conversations_answers
from tesserra_core.usecases.chat_approvals import Decision
from tesserra_core.usecases.conversations import (
    ApprovalView,
    ConversationView,
    Exchange,
    MessageView,
    NewConversation,
    NewMessage,
)
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

ConversationId = Annotated[str, Field(description="The conversation's id.")]


@tools.tool(conversations.StartConversation)
async def start_conversation(
    agent_id: Annotated[str, Field(description="The agent's id (see list_agents).")],
    title: str | None = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ConversationView:
    return await uc.conversations.start(actor, convert(NewConversation, {"agent_id": agent_id, "title": title}))


@tools.tool(conversations_answers.SendMessage)
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


@tools.tool(conversations_answers.CancelAnswer)
async def cancel_message(
    conversation_id: ConversationId,
    message_id: Annotated[str, Field(description="The answer's id (the assistant message).")],
    *,
    uc: UseCases,
    actor: Principal,
) -> MessageView:
    return await uc.conversations.cancel(actor, conversation_id, message_id)


@tools.tool(chat_approvals.DecideApproval)
async def decide_approval(
    conversation_id: ConversationId,
    message_id: Annotated[str, Field(description="The answer's id (the assistant message).")],
    approval_id: Annotated[str, Field(description="The approval's id (from its approval_required event).")],
    decision: Annotated[Literal["approve", "deny"], Field(description="Run the tool call, or refuse it.")],
    *,
    uc: UseCases,
    actor: Principal,
) -> ApprovalView:
    cmd = convert(Decision, {"decision": decision})
    return await uc.conversations.decide(actor, conversation_id, message_id, approval_id, cmd)
