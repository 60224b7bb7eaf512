"""SQL repository of stored agents (the definition as JSON text, its version and tenant as columns)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Row, or_, select, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo
from tesserra_core.domain.agents import Agent, StoredAgent
from tesserra_core.errors import Conflict

_encoder = msgspec.json.Encoder()
_agent = msgspec.json.Decoder(Agent)
_EXISTS = Conflict("an agent with this id exists already", code="agent_exists")


def _stored(r: Row[Any]) -> StoredAgent:
    return StoredAgent(
        agent=_agent.decode(r.agent), deleted=r.deleted, created_at=r.created_at, updated_at=r.updated_at
    )


def _values(s: StoredAgent) -> dict[str, Any]:
    return {
        "id": s.agent.id,
        "tenant_id": s.agent.tenant_id,
        "version": s.agent.version,
        "deleted": s.deleted,
        "agent": _encoder.encode(s.agent).decode(),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


class SqlAgents(Repo):
    async def get(self, agent_id: str) -> StoredAgent | None:
        return await self._read_by(t.agents, _stored, id=agent_id)

    async def visible(self, tenant_id: str | None) -> list[StoredAgent]:
        c = t.agents.c
        scope = c.tenant_id.is_(None) if tenant_id is None else or_(c.tenant_id.is_(None), c.tenant_id == tenant_id)
        return [_stored(r) for r in await self._all(select(t.agents).where(scope).order_by(c.created_at, c.id))]

    async def count_private(self, tenant_id: str) -> int:
        c = t.agents.c
        return await self._count(t.agents, c.tenant_id == tenant_id, c.deleted.is_(False))

    async def add(self, stored: StoredAgent) -> None:
        await self._insert(t.agents, _values(stored), _EXISTS)

    async def replace(self, stored: StoredAgent, version: int) -> bool:
        c = t.agents.c
        values = _values(stored)
        del values["id"], values["created_at"]
        stmt = update(t.agents).where(c.id == stored.agent.id, c.version == version).values(values)
        return bool((await self._conn.execute(stmt)).rowcount)

    async def remove(self, agent_id: str) -> bool:
        return await self._delete_by(t.agents, id=agent_id)
