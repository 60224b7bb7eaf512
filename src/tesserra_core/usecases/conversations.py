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

from tesserra_core.domain.agents import AgentCatalog
from tesserra_core.domain.conversations import (
    MAX_MESSAGE,
    MAX_TITLE,
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
from tesserra_core.errors import Conflict, TesserraError, ValidationFailed, found
from tesserra_core.ports import Ports
from tesserra_core.ports.models import ChatMessage
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.agent_loop import AgentLoop
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


class MessageView(View[Message], frozen=True):
    id: str
    conversation_id: str
    role: Role
    content: str
    status: MessageStatus
    stop_reason: StopReason | None
    error: str | None
    tool_calls: tuple[ToolCallRecord, ...]
    usage: Usage
    latency_ms: int
    created_at: datetime


class Exchange(msgspec.Struct, frozen=True, kw_only=True):
    """A posted message and the agent's answer to it."""

    message: MessageView
    reply: MessageView


async def conversation_of(uow: UnitOfWork, actor: Principal, conversation_id: str) -> Conversation:
    """The caller's own conversation in the caller's tenant, or 404."""
    return found(
        await uow.conversations.get(actor.tenant_id, actor.user_id, conversation_id),
        "no such conversation",
        code="conversation_not_found",
    )


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
    """Start a conversation with an agent of the catalog; it keeps the agent's current version."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    catalog: AgentCatalog
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewConversation) -> ConversationView:
        actor.require(self.scope)
        agent = self.catalog.agent(cmd.agent_id)
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
class DeleteConversation:
    """Delete a conversation and its messages."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, conversation_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            await conversation_of(uow, actor, conversation_id)
            await uow.conversations.delete(actor.tenant_id, actor.user_id, conversation_id)
            await uow.commit()


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
            return page.answer(await uow.messages.list(actor.tenant_id, conversation_id, page), MessageView.of)


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Post a message to one of the caller's conversations and get the agent's whole answer. The agent's
    tool calls run as the caller, with the caller's scopes and tier, exactly as the REST calls would.
    Without a model provider: 503 model_unavailable, and the message stays stored."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    loop: AgentLoop
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, conversation_id: str, cmd: NewMessage) -> Exchange:
        actor.require(self.scope)
        if not cmd.content.strip():
            raise ValidationFailed("content must not be only white space", code="empty_message")
        started = self.clock.monotonic()
        async with self.uow() as uow:
            conversation = await conversation_of(uow, actor, conversation_id)
            if conversation.status is ConversationStatus.ARCHIVED:
                raise Conflict("the conversation is archived: make it active to post", code="conversation_archived")
            message = self._message(conversation, Role.USER, cmd.content, MessageStatus.COMPLETE)
            await uow.messages.add(message)
            await uow.conversations.update(msgspec.structs.replace(conversation, updated_at=message.created_at))
            history = await uow.messages.recent(actor.tenant_id, conversation_id, HISTORY)
            await uow.commit()
        try:
            said = [_as_chat(m) for m in history if m.status is MessageStatus.COMPLETE]  # failed answers said nothing
            answer = await self.loop.answer(actor, conversation.agent, said)
        except TesserraError as exc:
            failed = self._message(
                conversation,
                Role.ASSISTANT,
                "",
                MessageStatus.FAILED,
                stop_reason=StopReason.ERROR,
                error=exc.message,
                latency_ms=self._since(started),
            )
            await self._store(conversation, failed)
            raise
        reply = self._message(
            conversation,
            Role.ASSISTANT,
            answer.content,
            MessageStatus.COMPLETE,
            stop_reason=answer.stop_reason,
            tool_calls=answer.tool_calls,
            usage=answer.usage,
            latency_ms=self._since(started),
        )
        await self._store(conversation, reply)
        return Exchange(message=MessageView.of(message), reply=MessageView.of(reply))

    def _since(self, started: float) -> int:
        return int((self.clock.monotonic() - started) * 1000)

    def _message(
        self,
        conversation: Conversation,
        role: Role,
        content: str,
        status: MessageStatus,
        *,
        stop_reason: StopReason | None = None,
        error: str | None = None,
        tool_calls: tuple[ToolCallRecord, ...] = (),
        usage: Usage | None = None,
        latency_ms: int = 0,
    ) -> Message:
        return Message(
            id=self.ids.new(),
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            role=role,
            content=content,
            status=status,
            created_at=self.clock.now(),
            stop_reason=stop_reason,
            error=error,
            tool_calls=tool_calls,
            usage=usage or Usage(),
            latency_ms=latency_ms,
        )

    async def _store(self, conversation: Conversation, reply: Message) -> None:
        """The answer, unless the conversation was deleted meanwhile."""
        async with self.uow() as uow:
            current = await uow.conversations.get(conversation.tenant_id, conversation.user_id, conversation.id)
            if current is None:
                return
            await uow.messages.add(reply)
            await uow.conversations.update(msgspec.structs.replace(current, updated_at=reply.created_at))
            await uow.commit()


def _as_chat(message: Message) -> ChatMessage:
    return ChatMessage(role=message.role.value, content=message.content)


@dataclass(frozen=True, slots=True)
class Conversations:
    """/api/conversas and /api/conversas/{id}/mensagens."""

    list: ListConversations
    start: StartConversation
    get: GetConversation
    update: UpdateConversation
    delete: DeleteConversation
    messages: ListMessages
    send: SendMessage


def conversations(p: Ports, *, catalog: AgentCatalog, loop: AgentLoop) -> Conversations:
    return Conversations(
        list=ListConversations(p.uow),
        start=StartConversation(p.uow, catalog, p.ids, p.clock),
        get=GetConversation(p.uow),
        update=UpdateConversation(p.uow, p.clock),
        delete=DeleteConversation(p.uow),
        messages=ListMessages(p.uow),
        send=SendMessage(p.uow, loop, p.ids, p.clock),
    )
