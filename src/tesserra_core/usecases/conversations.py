"""Conversations with agents and their messages (``/api/conversas``): the user's own within the tenant;
another user's or tenant's conversation answers 404 like a missing one.

Posting a message stores it, then runs the agent loop as the poster and stores the answer. Without a
provider (or with one that fails) the answer is 503 (or 502) and the user's message stays stored, with
a failed assistant message saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.conversations import (
    MAX_MESSAGE,
    MAX_TITLE,
    Approval,
    ApprovalStatus,
    Conversation,
    ConversationStatus,
    Message,
    MessageStatus,
    Role,
    StopReason,
    ToolCallRecord,
    Usage,
)
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import TEXT, Input, check_name, name_meta
from tesserra_core.errors import NotFound, found
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.agents import AgentDirectory
from tesserra_core.usecases.views import View

HISTORY = 40
"""The most earlier messages a model is given with a new one."""


class NewConversation(Input, frozen=True, forbid_unknown_fields=True):
    agent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    title: Annotated[str, name_meta(MAX_TITLE)] | None = None


class ConversationChanges(Input, frozen=True, forbid_unknown_fields=True):
    title: Annotated[str, name_meta(MAX_TITLE)] | None = None
    status: ConversationStatus | None = None


class NewMessage(Input, frozen=True, forbid_unknown_fields=True):
    content: Annotated[str, TEXT, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE)]


class ConversationFilter(msgspec.Struct, frozen=True, kw_only=True):
    status: ConversationStatus | None = None


class ConversationView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    agent_id: str
    agent_version: int
    agent_name: str
    title: str
    status: ConversationStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Conversation) -> ConversationView:
        return cls(
            id=c.id,
            agent_id=c.agent.id,
            agent_version=c.agent.version,
            agent_name=c.agent.name,
            title=c.title,
            status=c.status,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ApprovalView(View[Approval], frozen=True):
    """A destructive tool call waiting for (or past) its user's decision: every field of the approval but
    its tenant and conversation."""

    id: str
    message_id: str
    tool_call_id: str
    tool: str
    arguments: str
    """The call's arguments, as the model wrote them (JSON text)."""
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None


class MessageView(View[Message], frozen=True, omit_defaults=True):
    id: str
    conversation_id: str
    role: Role
    content: str
    status: MessageStatus
    stop_reason: StopReason | None
    error: str | None
    error_code: str | None
    tool_calls: tuple[ToolCallRecord, ...]
    usage: Usage
    latency_ms: int
    created_at: datetime
    reply_to: str | None
    approval: ApprovalView | None = None
    """Only while the answer is ``pending_approval``: the tool call it waits on (decide it at
    ``.../mensagens/{id}/aprovacoes/{approval_id}``)."""

    @classmethod
    def of(cls, m: Message, /, approval: Approval | None = None) -> MessageView:
        return cls(
            id=m.id,
            conversation_id=m.conversation_id,
            role=m.role,
            content=m.content,
            status=m.status,
            stop_reason=m.stop_reason,
            error=m.error,
            error_code=m.error_code,
            tool_calls=m.tool_calls,
            usage=m.usage,
            latency_ms=m.latency_ms,
            created_at=m.created_at,
            reply_to=m.reply_to,
            approval=ApprovalView.of(approval) if approval is not None else None,
        )


class Exchange(msgspec.Struct, frozen=True, kw_only=True):
    """A posted message and the agent's answer to it."""

    message: MessageView
    reply: MessageView


async def view_of(uow: UnitOfWork, message: Message) -> MessageView:
    """The message's view, with the approval it waits on if it does."""
    if message.status is not MessageStatus.PENDING_APPROVAL:
        return MessageView.of(message)
    pending = await uow.approvals.pending_of(message.tenant_id, message.id)
    return MessageView.of(message, pending[0] if pending else None)


async def conversation_of(uow: UnitOfWork, actor: Principal, conversation_id: str) -> Conversation:
    """The caller's own conversation in the caller's tenant, or 404."""
    return found(
        await uow.conversations.get(actor.tenant_id, actor.user_id, conversation_id),
        "no such conversation",
        code="conversation_not_found",
    )


async def answer_of(uow: UnitOfWork, actor: Principal, conversation_id: str, message_id: str) -> Message:
    """An answer (assistant message) of the caller's own conversation, or 404."""
    await conversation_of(uow, actor, conversation_id)
    message = await uow.messages.get(actor.tenant_id, conversation_id, message_id)
    if message is None or message.role is not Role.ASSISTANT:
        raise NotFound("no such answer in this conversation", code="message_not_found")
    return message


@dataclass(frozen=True, slots=True)
class ListConversations:
    """The caller's conversations, most recently active first; only archived or active ones if asked."""

    scope: ClassVar[Scope] = Scope.CHAT_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest, where: ConversationFilter) -> Page[ConversationView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            found_ = await uow.conversations.list(actor.tenant_id, actor.user_id, page, where.status)
            return page.answer(found_, ConversationView.of)


@dataclass(frozen=True, slots=True)
class StartConversation:
    """Start a conversation with an agent the caller sees (the platform's, or a private one of its tenant);
    it keeps a copy of the agent's current version, so later edits never change it."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    directory: AgentDirectory
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewConversation) -> ConversationView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            agent = await self.directory.find(uow, cmd.agent_id, actor.tenant_id)
        title = check_name("title", cmd.title, MAX_TITLE) if cmd.title is not None else agent.name
        now = self.clock.now()
        conversation = Conversation(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            agent=agent,
            title=title,
            status=ConversationStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        async with self.uow() as uow:
            await uow.conversations.add(conversation)
            await uow.commit()
        return ConversationView.of(conversation)


@dataclass(frozen=True, slots=True)
class GetConversation:
    """One of the caller's conversations."""

    scope: ClassVar[Scope] = Scope.CHAT_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, conversation_id: str) -> ConversationView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return ConversationView.of(await conversation_of(uow, actor, conversation_id))


@dataclass(frozen=True, slots=True)
class UpdateConversation:
    """Rename a conversation, archive it (status archived) or bring it back (active). An archived
    conversation takes no new messages."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, conversation_id: str, changes: ConversationChanges) -> ConversationView:
        actor.require(self.scope)
        async with self.uow() as uow:
            conversation = await conversation_of(uow, actor, conversation_id)
            title = conversation.title if changes.title is None else check_name("title", changes.title, MAX_TITLE)
            updated = msgspec.structs.replace(
                conversation,
                title=title,
                status=changes.status or conversation.status,
                updated_at=self.clock.now(),
            )
            await uow.conversations.update(updated)
            await uow.commit()
        return ConversationView.of(updated)


@dataclass(frozen=True, slots=True)
class ListMessages:
    """The messages of one of the caller's conversations, oldest first, each answer with its tool calls,
    tokens and latency."""

    scope: ClassVar[Scope] = Scope.CHAT_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, conversation_id: str, page: PageRequest) -> Page[MessageView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            await conversation_of(uow, actor, conversation_id)
            messages, total = await uow.messages.list(actor.tenant_id, conversation_id, page)
            views = [await view_of(uow, m) for m in messages]
        return Page(views, total, page.limit, page.offset)
