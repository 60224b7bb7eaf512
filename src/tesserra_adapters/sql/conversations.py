"""SQL repositories of conversations and messages (the agent snapshot and tool calls as JSON text)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo, from_row, to_values
from tesserra_core.domain.agents import Agent
from tesserra_core.domain.chat_streams import EventName, StreamEvent
from tesserra_core.domain.conversations import (
    GENERATING,
    Approval,
    ApprovalStatus,
    Conversation,
    ConversationStatus,
    Message,
    ToolCallRecord,
    Usage,
)
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict

_encoder = msgspec.json.Encoder()
_KEY_TAKEN = Conflict(
    "a message with this Idempotency-Key is in the conversation already", code="idempotency_in_flight"
)
_EVENT_STORED = Conflict("that event is stored already", code="event_exists")
_agent = msgspec.json.Decoder(Agent)
_tool_calls = msgspec.json.Decoder(tuple[ToolCallRecord, ...])


def _conversation(r: Row[Any]) -> Conversation:
    return from_row(Conversation, r, agent=_agent.decode(r.agent))


def _conversation_values(c: Conversation) -> dict[str, Any]:
    return to_values(c, agent=_encoder.encode(c.agent).decode(), agent_id=c.agent.id, agent_version=c.agent.version)


def _message(r: Row[Any]) -> Message:
    usage = Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens, estimated=r.tokens_estimated)
    return from_row(Message, r, tool_calls=_tool_calls.decode(r.tool_calls), usage=usage)


def _message_values(m: Message) -> dict[str, Any]:
    return to_values(
        m,
        omit=("usage",),
        tool_calls=_encoder.encode(m.tool_calls).decode(),
        prompt_tokens=m.usage.prompt_tokens,
        completion_tokens=m.usage.completion_tokens,
        tokens_estimated=m.usage.estimated,
    )


class SqlConversations(Repo):
    async def add(self, conversation: Conversation) -> None:
        await self._conn.execute(t.conversations.insert().values(_conversation_values(conversation)))

    async def get(self, tenant_id: str, user_id: str, conversation_id: str) -> Conversation | None:
        keys = {"id": conversation_id, "tenant_id": tenant_id, "user_id": user_id}
        return await self._read_by(t.conversations, _conversation, **keys)

    async def update(self, conversation: Conversation) -> bool:
        c = conversation
        values = {"title": c.title, "status": c.status.value, "updated_at": c.updated_at}
        return await self._update_owned(t.conversations, conversation.tenant_id, conversation.id, values)

    async def delete(self, tenant_id: str, user_id: str, conversation_id: str) -> bool:
        if await self.get(tenant_id, user_id, conversation_id) is None:
            return False
        m = t.messages.c
        of_it = delete(t.messages).where(m.tenant_id == tenant_id, m.conversation_id == conversation_id)
        ids = select(m.id).where(m.tenant_id == tenant_id, m.conversation_id == conversation_id)
        await self._conn.execute(delete(t.message_events).where(t.message_events.c.message_id.in_(ids)))
        await self._conn.execute(of_it)
        return await self._delete_by(t.conversations, id=conversation_id, tenant_id=tenant_id, user_id=user_id)

    async def list(
        self, tenant_id: str, user_id: str, page: PageRequest, status: ConversationStatus | None = None
    ) -> tuple[list[Conversation], int]:
        c = t.conversations.c
        where = and_(c.tenant_id == tenant_id, c.user_id == user_id)
        if status is not None:
            where = and_(where, c.status == status.value)
        return await self._page(t.conversations, _conversation, page, where, c.updated_at.desc(), c.id.desc())


class SqlMessages(Repo):
    async def add(self, message: Message) -> None:
        await self._insert(t.messages, _message_values(message), _KEY_TAKEN)

    async def recent(self, tenant_id: str, conversation_id: str, limit: int) -> list[Message]:
        m = t.messages.c
        stmt = (
            select(t.messages)
            .where(m.tenant_id == tenant_id, m.conversation_id == conversation_id)
            .order_by(m.id.desc())
            .limit(limit)
        )
        return [_message(r) for r in reversed(await self._all(stmt))]

    async def list(self, tenant_id: str, conversation_id: str, page: PageRequest) -> tuple[list[Message], int]:
        m = t.messages.c
        where = and_(m.tenant_id == tenant_id, m.conversation_id == conversation_id)
        return await self._page(t.messages, _message, page, where, m.id)

    async def get(self, tenant_id: str, conversation_id: str, message_id: str) -> Message | None:
        keys = {"id": message_id, "tenant_id": tenant_id, "conversation_id": conversation_id}
        return await self._read_by(t.messages, _message, **keys)

    async def update(self, message: Message) -> bool:
        values = _message_values(message)
        for fixed in ("id", "tenant_id", "conversation_id", "role", "created_at", "reply_to", "idempotency_key"):
            values.pop(fixed)
        return await self._update_owned(t.messages, message.tenant_id, message.id, values)

    async def by_key(self, tenant_id: str, conversation_id: str, idempotency_key: str) -> Message | None:
        keys = {"tenant_id": tenant_id, "conversation_id": conversation_id, "idempotency_key": idempotency_key}
        return await self._read_by(t.messages, _message, **keys)

    async def reply_to(self, tenant_id: str, message_id: str) -> Message | None:
        return await self._read_by(t.messages, _message, tenant_id=tenant_id, reply_to=message_id)

    async def streaming(self) -> Sequence[Message]:
        statuses = sorted(s.value for s in GENERATING)
        stmt = select(t.messages).where(t.messages.c.status.in_(statuses)).order_by(t.messages.c.id)
        return [_message(r) for r in await self._all(stmt)]


def _event(r: Row[Any]) -> StreamEvent:
    return StreamEvent(tenant_id=r.tenant_id, message_id=r.message_id, seq=r.seq, name=EventName(r.name), data=r.data)


class SqlMessageEvents(Repo):
    async def add(self, event: StreamEvent) -> None:
        e = event
        values = {
            "tenant_id": e.tenant_id,
            "message_id": e.message_id,
            "seq": e.seq,
            "name": e.name.value,
            "data": e.data,
        }
        await self._insert(t.message_events, values, _EVENT_STORED)

    async def after(self, tenant_id: str, message_id: str, seq: int) -> list[StreamEvent]:
        e = t.message_events.c
        stmt = (
            select(t.message_events)
            .where(e.tenant_id == tenant_id, e.message_id == message_id, e.seq > seq)
            .order_by(e.seq)
        )
        return [_event(r) for r in await self._all(stmt)]


def _approval(r: Row[Any]) -> Approval:
    return from_row(Approval, r)


class SqlApprovals(Repo):
    async def add(self, approval: Approval) -> None:
        await self._conn.execute(t.chat_approvals.insert().values(to_values(approval)))

    async def get(self, tenant_id: str, message_id: str, approval_id: str) -> Approval | None:
        return await self._read_by(
            t.chat_approvals, _approval, id=approval_id, tenant_id=tenant_id, message_id=message_id
        )

    async def decide(self, tenant_id: str, approval_id: str, status: ApprovalStatus, at: datetime) -> bool:
        a = t.chat_approvals.c
        stmt = update(t.chat_approvals).where(
            a.id == approval_id, a.tenant_id == tenant_id, a.status == ApprovalStatus.PENDING.value
        )
        return bool((await self._conn.execute(stmt.values(status=status.value, decided_at=at))).rowcount)

    async def pending_of(self, tenant_id: str, message_id: str) -> list[Approval]:
        a = t.chat_approvals.c
        stmt = select(t.chat_approvals).where(
            a.tenant_id == tenant_id, a.message_id == message_id, a.status == ApprovalStatus.PENDING.value
        )
        return [_approval(r) for r in await self._all(stmt.order_by(a.id))]


class SqlChatBudgets(Repo):
    async def reserve(
        self, budget: str, period: str, tokens: int, tool_calls: int, max_tokens: int | None, max_tool_calls: int | None
    ) -> bool:
        b = t.chat_budgets.c
        insert = pg_insert if self._conn.dialect.name == "postgresql" else sqlite_insert
        row = {"budget": budget, "period": period, "tokens": 0, "tool_calls": 0}
        await self._conn.execute(insert(t.chat_budgets).values(row).on_conflict_do_nothing())
        stmt = update(t.chat_budgets).where(b.budget == budget, b.period == period)
        if max_tokens is not None:
            stmt = stmt.where(b.tokens + tokens <= max_tokens)
        if max_tool_calls is not None:
            stmt = stmt.where(b.tool_calls + tool_calls <= max_tool_calls)
        values = {"tokens": b.tokens + tokens, "tool_calls": b.tool_calls + tool_calls}
        return bool((await self._conn.execute(stmt.values(values))).rowcount)

    async def release(self, budget: str, period: str, tokens: int, tool_calls: int) -> None:
        b = t.chat_budgets.c
        stmt = update(t.chat_budgets).where(b.budget == budget, b.period == period)
        await self._conn.execute(stmt.values(tokens=b.tokens - tokens, tool_calls=b.tool_calls - tool_calls))

    async def spent(self, budget: str, period: str) -> tuple[int, int]:
        b = t.chat_budgets.c
        row = await self._one(select(b.tokens, b.tool_calls).where(b.budget == budget, b.period == period))
        return (int(row.tokens), int(row.tool_calls)) if row is not None else (0, 0)
