"""Persistence of conversations and their messages; both are the user's own within the tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tesserra_core.domain.chat_streams import StreamEvent
from tesserra_core.domain.conversations import Approval, ApprovalStatus, Conversation, ConversationStatus, Message
from tesserra_core.domain.paging import PageRequest


class ConversationRepository(Protocol):
    async def add(self, conversation: Conversation) -> None: ...

    async def get(self, tenant_id: str, user_id: str, conversation_id: str) -> Conversation | None:
        """The user's conversation in the tenant; another user's or tenant's is None, like a missing one."""
        ...

    async def update(self, conversation: Conversation) -> bool:
        """Store its title, status and ``updated_at``; whether it was there."""
        ...

    async def delete(self, tenant_id: str, user_id: str, conversation_id: str) -> bool:
        """True if it existed. Its messages go with it."""
        ...

    async def list(
        self, tenant_id: str, user_id: str, page: PageRequest, status: ConversationStatus | None = None
    ) -> tuple[list[Conversation], int]:
        """A page of the user's conversations in the tenant (only those in ``status`` if given), most
        recently updated first, and the total."""
        ...


class MessageRepository(Protocol):
    async def add(self, message: Message) -> None:
        """Raises ``Conflict`` if its ``idempotency_key`` is taken in the conversation."""
        ...

    async def recent(self, tenant_id: str, conversation_id: str, limit: int) -> list[Message]:
        """The conversation's last ``limit`` messages, oldest first (the history a model is given)."""
        ...

    async def list(self, tenant_id: str, conversation_id: str, page: PageRequest) -> tuple[list[Message], int]:
        """A page of the conversation's messages, oldest first, and the total."""
        ...

    async def get(self, tenant_id: str, conversation_id: str, message_id: str) -> Message | None: ...

    async def update(self, message: Message) -> bool:
        """Store its content, status, stop reason, error, tool calls, usage and latency."""
        ...

    async def by_key(self, tenant_id: str, conversation_id: str, idempotency_key: str) -> Message | None:
        """The user message posted with this ``Idempotency-Key``."""
        ...

    async def reply_to(self, tenant_id: str, message_id: str) -> Message | None:
        """The answer to a user message."""
        ...

    async def streaming(self) -> Sequence[Message]:
        """Every answer, of every tenant, still being generated (streaming or pending approval): the
        start-up repair's work."""
        ...


class MessageEventRepository(Protocol):
    async def add(self, event: StreamEvent) -> None:
        """Raises ``Conflict`` if the answer has an event of that ``seq`` already."""
        ...

    async def after(self, tenant_id: str, message_id: str, seq: int) -> list[StreamEvent]:
        """The answer's events after ``seq``, in order."""
        ...


class ChatBudgetRepository(Protocol):
    """What each budget (a tenant's month, a user's day) has spent or holds reserved."""

    async def reserve(
        self, budget: str, period: str, tokens: int, tool_calls: int, max_tokens: int | None, max_tool_calls: int | None
    ) -> bool:
        """Add ``tokens`` and ``tool_calls`` to the budget's period if both stay within their maximum (None:
        unlimited), atomically: of racing reservations, only those that fit succeed."""
        ...

    async def release(self, budget: str, period: str, tokens: int, tool_calls: int) -> None:
        """Give back what a reservation held and the answer did not spend."""
        ...

    async def spent(self, budget: str, period: str) -> tuple[int, int]:
        """Tokens and tool calls spent or reserved in the budget's period."""
        ...


class ApprovalRepository(Protocol):
    async def add(self, approval: Approval) -> None: ...

    async def get(self, tenant_id: str, message_id: str, approval_id: str) -> Approval | None: ...

    async def decide(self, tenant_id: str, approval_id: str, status: ApprovalStatus, at: datetime) -> bool:
        """Move a pending approval to ``status``, atomically: of racing decisions exactly one succeeds
        (True); on one no longer pending it changes nothing (False)."""
        ...

    async def pending_of(self, tenant_id: str, message_id: str) -> list[Approval]:
        """The answer's approvals still pending."""
        ...
