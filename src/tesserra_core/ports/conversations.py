"""Persistence of conversations and their messages; both are the user's own within the tenant."""

from __future__ import annotations

from typing import Protocol

from tesserra_core.domain.conversations import Conversation, ConversationStatus, Message
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
    async def add(self, message: Message) -> None: ...

    async def recent(self, tenant_id: str, conversation_id: str, limit: int) -> list[Message]:
        """The conversation's last ``limit`` messages, oldest first (the history a model is given)."""
        ...

    async def list(self, tenant_id: str, conversation_id: str, page: PageRequest) -> tuple[list[Message], int]:
        """A page of the conversation's messages, oldest first, and the total."""
        ...
