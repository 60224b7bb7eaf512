"""SQL repository of sandboxes (the template, the events and the revoked tokens are stored as JSON text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, or_, select

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo, from_row, to_values
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import (
    GONE,
    TRANSIENT,
    OnTtl,
    RevokedToken,
    Sandbox,
    SandboxEvent,
    SandboxState,
    SandboxTemplate,
)

_encoder = msgspec.json.Encoder()
_template = msgspec.json.Decoder(SandboxTemplate)
_events = msgspec.json.Decoder(tuple[SandboxEvent, ...])
_revoked = msgspec.json.Decoder(tuple[RevokedToken, ...])
_GONE = [s.value for s in GONE]


def _sandbox(r: Row[Any]) -> Sandbox:
    return from_row(
        Sandbox,
        r,
        template=_template.decode(r.template),
        events=_events.decode(r.events),
        revoked_tokens=_revoked.decode(r.revoked_tokens),
    )


def _values(s: Sandbox) -> dict[str, Any]:
    return to_values(
        s,
        template=_encoder.encode(s.template).decode(),
        events=_encoder.encode(s.events).decode(),
        revoked_tokens=_encoder.encode(s.revoked_tokens).decode(),
    )


class SqlSandboxes(Repo):
    async def add(self, sandbox: Sandbox) -> None:
        await self._conn.execute(t.sandboxes.insert().values(_values(sandbox)))

    async def get(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        return await self._read_owned(t.sandboxes, _sandbox, tenant_id, sandbox_id)

    async def find(self, sandbox_id: str) -> Sandbox | None:
        return await self._read_by(t.sandboxes, _sandbox, id=sandbox_id)

    async def update(self, sandbox: Sandbox, *, if_updated_at: datetime | None = None) -> bool:
        values = _values(sandbox)
        return await self._update_owned(t.sandboxes, sandbox.tenant_id, sandbox.id, values, if_updated_at=if_updated_at)

    async def count(self, tenant_id: str) -> int:
        c = t.sandboxes.c
        return await self._count(t.sandboxes, c.tenant_id == tenant_id, c.state.not_in(_GONE))

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

    async def list(
        self, tenant_id: str, page: PageRequest, state: SandboxState | None = None
    ) -> tuple[list[Sandbox], int]:
        c = t.sandboxes.c
        where = and_(c.tenant_id == tenant_id, c.state.not_in(_GONE))
        if state is not None:
            where = and_(where, c.state == state.value)
        return await self._page(t.sandboxes, _sandbox, page, where, c.id.desc())
