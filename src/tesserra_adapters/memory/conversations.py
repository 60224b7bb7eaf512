"""In-memory repositories of conversations and their messages."""

from __future__ import annotations

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.conversations import Conversation, ConversationStatus, Message
from tesserra_core.domain.paging import PageRequest


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
        self._put(self._store.messages, message.id, message)

    def _of(self, tenant_id: str, conversation_id: str) -> list[Message]:
        messages = self._store.messages.values()
        found = [m for m in messages if m.tenant_id == tenant_id and m.conversation_id == conversation_id]
        return sorted(found, key=lambda m: m.id)

    async def recent(self, tenant_id: str, conversation_id: str, limit: int) -> list[Message]:
        return self._of(tenant_id, conversation_id)[-limit:]

    async def list(self, tenant_id: str, conversation_id: str, page: PageRequest) -> tuple[list[Message], int]:
        return page.window(self._of(tenant_id, conversation_id))
