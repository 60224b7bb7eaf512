"""In-memory repository of stored agents (edited, added, private or deleted ones)."""

from __future__ import annotations

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.agents import StoredAgent
from tesserra_core.errors import Conflict


class MemoryAgents(_Repo):
    async def get(self, agent_id: str) -> StoredAgent | None:
        return self._store.agents.get(agent_id)

    async def visible(self, tenant_id: str | None) -> list[StoredAgent]:
        return [s for s in self._store.agents.values() if s.agent.tenant_id in (None, tenant_id)]

    async def count_private(self, tenant_id: str) -> int:
        return sum(1 for s in self._store.agents.values() if s.agent.tenant_id == tenant_id and not s.deleted)

    async def add(self, stored: StoredAgent) -> None:
        if stored.agent.id in self._store.agents:
            raise Conflict("an agent with this id exists already", code="agent_exists")
        self._put(self._store.agents, stored.agent.id, stored)

    async def replace(self, stored: StoredAgent, version: int) -> bool:
        current = self._store.agents.get(stored.agent.id)
        if current is None or current.agent.version != version:
            return False
        self._put(self._store.agents, stored.agent.id, stored)
        return True

    async def remove(self, agent_id: str) -> bool:
        if agent_id not in self._store.agents:
            return False
        self._drop(self._store.agents, agent_id)
        return True
