"""In-memory repositories of conversations, their messages and the events of streamed answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.chat_streams import StreamEvent
from tesserra_core.domain.conversations import (
    GENERATING,
    Approval,
    ApprovalStatus,
    Conversation,
    ConversationStatus,
    Message,
)
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class MemoryConversations(_Repo):
    async def add(self, conversation: Conversation) -> None:
        self._put(self._store.conversations, conversation.id, conversation)

    async def get(self, tenant_id: str, user_id: str, conversation_id: str) -> Conversation | None:
        found = self._owned(self._store.conversations, tenant_id, conversation_id)
        return found if found is not None and found.user_id == user_id else None

    async def update(self, conversation: Conversation) -> bool:
        if self._owned(self._store.conversations, conversation.tenant_id, conversation.id) is None:
            return False
        self._put(self._store.conversations, conversation.id, conversation)
        return True

    async def delete(self, tenant_id: str, user_id: str, conversation_id: str) -> bool:
        if await self.get(tenant_id, user_id, conversation_id) is None:
            return False
        for message in [m for m in self._store.messages.values() if m.conversation_id == conversation_id]:
            self._drop(self._store.messages, message.id)
            for key in [k for k in self._store.message_events if k[0] == message.id]:
                self._drop(self._store.message_events, key)
            for approval in [a for a in self._store.approvals.values() if a.message_id == message.id]:
                self._drop(self._store.approvals, approval.id)
        return self._pop(self._store.conversations, conversation_id)

    async def list(
        self, tenant_id: str, user_id: str, page: PageRequest, status: ConversationStatus | None = None
    ) -> tuple[list[Conversation], int]:
        found = [
            c
            for c in self._store.conversations.values()
            if c.tenant_id == tenant_id and c.user_id == user_id and (status is None or c.status == status)
        ]
        return page.window(sorted(found, key=lambda c: (c.updated_at, c.id), reverse=True))


class MemoryMessages(_Repo):
    async def add(self, message: Message) -> None:
        key = message.idempotency_key
        if key is not None and await self.by_key(message.tenant_id, message.conversation_id, key) is not None:
            raise Conflict(
                "a message with this Idempotency-Key is in the conversation already", code="idempotency_in_flight"
            )
        self._put(self._store.messages, message.id, message)

    def _of(self, tenant_id: str, conversation_id: str) -> list[Message]:
        messages = self._store.messages.values()
        found = [m for m in messages if m.tenant_id == tenant_id and m.conversation_id == conversation_id]
        return sorted(found, key=lambda m: m.id)

    async def recent(self, tenant_id: str, conversation_id: str, limit: int) -> list[Message]:
        return self._of(tenant_id, conversation_id)[-limit:]

    async def list(self, tenant_id: str, conversation_id: str, page: PageRequest) -> tuple[list[Message], int]:
        return page.window(self._of(tenant_id, conversation_id))

    async def get(self, tenant_id: str, conversation_id: str, message_id: str) -> Message | None:
        found = self._owned(self._store.messages, tenant_id, message_id)
        return found if found is not None and found.conversation_id == conversation_id else None

    async def update(self, message: Message) -> bool:
        old = self._owned(self._store.messages, message.tenant_id, message.id)
        if old is None:
            return False
        fixed = {name: getattr(old, name) for name in ("conversation_id", "role", "created_at", "reply_to")}
        self._put(
            self._store.messages,
            message.id,
            msgspec.structs.replace(message, **fixed, idempotency_key=old.idempotency_key),
        )
        return True

    async def by_key(self, tenant_id: str, conversation_id: str, idempotency_key: str) -> Message | None:
        return next((m for m in self._of(tenant_id, conversation_id) if m.idempotency_key == idempotency_key), None)

    async def reply_to(self, tenant_id: str, message_id: str) -> Message | None:
        messages = self._store.messages.values()
        return next((m for m in messages if m.tenant_id == tenant_id and m.reply_to == message_id), None)

    async def streaming(self) -> Sequence[Message]:
        return sorted((m for m in self._store.messages.values() if m.status in GENERATING), key=lambda m: m.id)


class MemoryMessageEvents(_Repo):
    async def add(self, event: StreamEvent) -> None:
        key = (event.message_id, event.seq)
        if key in self._store.message_events:
            raise Conflict("that event is stored already", code="event_exists")
        self._put(self._store.message_events, key, event)

    async def after(self, tenant_id: str, message_id: str, seq: int) -> list[StreamEvent]:
        events = self._store.message_events.values()
        found = [e for e in events if e.tenant_id == tenant_id and e.message_id == message_id and e.seq > seq]
        return sorted(found, key=lambda e: e.seq)


class MemoryApprovals(_Repo):
    async def add(self, approval: Approval) -> None:
        self._put(self._store.approvals, approval.id, approval)

    async def get(self, tenant_id: str, message_id: str, approval_id: str) -> Approval | None:
        found = self._owned(self._store.approvals, tenant_id, approval_id)
        return found if found is not None and found.message_id == message_id else None

    async def decide(self, tenant_id: str, approval_id: str, status: ApprovalStatus, at: datetime) -> bool:
        found = self._owned(self._store.approvals, tenant_id, approval_id)
        if found is None or found.status is not ApprovalStatus.PENDING:
            return False
        self._put(self._store.approvals, approval_id, msgspec.structs.replace(found, status=status, decided_at=at))
        return True

    async def pending_of(self, tenant_id: str, message_id: str) -> list[Approval]:
        approvals = self._store.approvals.values()
        found = [
            a
            for a in approvals
            if a.tenant_id == tenant_id and a.message_id == message_id and a.status is ApprovalStatus.PENDING
        ]
        return sorted(found, key=lambda a: a.id)


class MemoryChatBudgets(_Repo):
    async def reserve(
        self, budget: str, period: str, tokens: int, tool_calls: int, max_tokens: int | None, max_tool_calls: int | None
    ) -> bool:
        held, calls = self._store.chat_budgets.get((budget, period), (0, 0))
        if max_tokens is not None and held + tokens > max_tokens:
            return False
        if max_tool_calls is not None and calls + tool_calls > max_tool_calls:
            return False
        self._put(self._store.chat_budgets, (budget, period), (held + tokens, calls + tool_calls))
        return True

    async def release(self, budget: str, period: str, tokens: int, tool_calls: int) -> None:
        held, calls = self._store.chat_budgets.get((budget, period), (0, 0))
        self._put(self._store.chat_budgets, (budget, period), (held - tokens, calls - tool_calls))

    async def spent(self, budget: str, period: str) -> tuple[int, int]:
        return self._store.chat_budgets.get((budget, period), (0, 0))
