"""SQL repository of sandboxes (the template and the events are stored as JSON text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, or_, select, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo, count_of, from_row, to_values
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import GONE, TRANSIENT, OnTtl, Sandbox, SandboxEvent, SandboxState, SandboxTemplate

_encoder = msgspec.json.Encoder()
_template = msgspec.json.Decoder(SandboxTemplate)
_events = msgspec.json.Decoder(tuple[SandboxEvent, ...])
_GONE = [s.value for s in GONE]


def _sandbox(r: Row[Any]) -> Sandbox:
    return from_row(Sandbox, r, template=_template.decode(r.template), events=_events.decode(r.events))


def _values(s: Sandbox) -> dict[str, Any]:
    return to_values(s, template=_encoder.encode(s.template).decode(), events=_encoder.encode(s.events).decode())


class SqlSandboxes(Repo):
    async def add(self, sandbox: Sandbox) -> None:
        await self._conn.execute(t.sandboxes.insert().values(_values(sandbox)))

    async def get(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        row = await self._owned(t.sandboxes, tenant_id, sandbox_id)
        return _sandbox(row) if row else None

    async def find(self, sandbox_id: str) -> Sandbox | None:
        row = await self._one(select(t.sandboxes).where(t.sandboxes.c.id == sandbox_id))
        return _sandbox(row) if row else None

    async def update(self, sandbox: Sandbox, *, if_updated_at: datetime | None = None) -> bool:
        c = t.sandboxes.c
        stmt = update(t.sandboxes).where(c.id == sandbox.id, c.tenant_id == sandbox.tenant_id)
        if if_updated_at is not None:
            stmt = stmt.where(c.updated_at == if_updated_at)
        result = await self._conn.execute(stmt.values(_values(sandbox)))
        return bool(result.rowcount)

    async def count(self, tenant_id: str) -> int:
        c = t.sandboxes.c
        stmt = count_of(t.sandboxes, c.tenant_id == tenant_id, c.state.not_in(_GONE))
        return int((await self._conn.execute(stmt)).scalar_one())

    async def due(self, now: datetime, limit: int = 100) -> list[Sandbox]:
        c = t.sandboxes.c
        s = SandboxState
        stoppable = [s.RUNNING.value, s.PAUSED.value, s.ERROR.value]
        ttl = and_(c.expires_at <= now, or_(c.on_ttl == OnTtl.DELETE.value, c.state.in_(stoppable)))
        idle = and_(c.state == s.RUNNING.value, c.idle_expires_at <= now)
        where = and_(c.state.not_in([*_GONE, s.DELETING.value]), or_(ttl, idle))
        stmt = select(t.sandboxes).where(where).order_by(c.expires_at, c.id)
        return [_sandbox(r) for r in await self._all(stmt.limit(limit))]

    async def unsettled(self) -> list[Sandbox]:
        c = t.sandboxes.c
        stmt = select(t.sandboxes).where(c.state.in_([s.value for s in TRANSIENT])).order_by(c.id)
        return [_sandbox(r) for r in await self._all(stmt)]

    async def live(self) -> list[Sandbox]:
        c = t.sandboxes.c
        stmt = select(t.sandboxes).where(c.state.not_in(_GONE)).order_by(c.id)
        return [_sandbox(r) for r in await self._all(stmt)]

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Sandbox], int]:
        c = t.sandboxes.c
        where = and_(c.tenant_id == tenant_id, c.state.not_in(_GONE))
        rows, total = await self._page(t.sandboxes, where, c.id.desc(), page)
        return [_sandbox(r) for r in rows], total
