"""Persistence of agents edited or added after the shipped catalog (``tesserra_core.domain.agents``)."""

from __future__ import annotations

from typing import Protocol

from tesserra_core.domain.agents import StoredAgent


class AgentRepository(Protocol):
    async def get(self, agent_id: str) -> StoredAgent | None:
        """The stored agent (a tombstone too), of any tenant or the platform: callers check who sees it."""
        ...

    async def visible(self, tenant_id: str | None) -> list[StoredAgent]:
        """The platform's stored agents and, with ``tenant_id``, that tenant's private ones (tombstones
        too); no other tenant's."""
        ...

    async def count_private(self, tenant_id: str) -> int:
        """The tenant's private agents, tombstones left out."""
        ...

    async def add(self, stored: StoredAgent) -> None:
        """Raises ``Conflict`` if an agent of that id is stored already."""
        ...

    async def replace(self, stored: StoredAgent, version: int) -> bool:
        """Store the new version if the stored one is still at ``version`` (compare-and-set: of two
        racing edits, one wins); whether it was."""
        ...

    async def remove(self, agent_id: str) -> bool:
        """Forget the agent (one the catalog does not ship: nothing to hide); whether it was stored."""
        ...
