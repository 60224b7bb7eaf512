"""SQL repositories of OAuth states, linked accounts and client syncs (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.shared_tools import ClientSync, OAuthLink, OAuthState
from tesserra_core.errors import Conflict


def _state(r: Row[Any]) -> OAuthState:
    return from_row(OAuthState, r)


def _link(r: Row[Any]) -> OAuthLink:
    return from_row(OAuthLink, r, scopes=tuple(r.scopes.split()))


def _sync(r: Row[Any]) -> ClientSync:
    return from_row(ClientSync, r)


class SqlOAuthStates(_Repo):
    async def add(self, state: OAuthState) -> None:
        values = to_values(state)
        await self._insert(t.oauth_states, values, Conflict("OAuth state exists", code="oauth_state_exists"))

    async def get(self, state_id: str) -> OAuthState | None:
        return await self._read_by(t.oauth_states, _state, id=state_id)

    async def consume(self, state_id: str, at: datetime) -> bool:
        return await self._stamp(t.oauth_states, "used_at", at, t.oauth_states.c.id == state_id)

    async def purge(self, before: datetime) -> int:
        result = await self._conn.execute(delete(t.oauth_states).where(t.oauth_states.c.expires_at < before))
        return int(result.rowcount or 0)


class SqlOAuthLinks(_Repo):
    async def get(self, tenant_id: str, user_id: str, tool_id: str) -> OAuthLink | None:
        return await self._read_by(t.oauth_links, _link, tenant_id=tenant_id, user_id=user_id, tool_id=tool_id)

    async def put(self, link: OAuthLink) -> None:
        values = to_values(link, scopes=" ".join(link.scopes))
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t.oauth_links).values(values)
        keys = ("tenant_id", "user_id", "tool_id")
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={k: stmt.excluded[k] for k in values if k not in keys}
        )
        await self._conn.execute(stmt)

    async def list_for_user(self, tenant_id: str, user_id: str) -> list[OAuthLink]:
        c = t.oauth_links.c
        rows = await self._all(
            select(t.oauth_links).where(c.tenant_id == tenant_id, c.user_id == user_id).order_by(c.tool_id)
        )
        return [_link(r) for r in rows]

    async def delete(self, tenant_id: str, user_id: str, tool_id: str) -> bool:
        return await self._delete_by(t.oauth_links, tenant_id=tenant_id, user_id=user_id, tool_id=tool_id)


class SqlClientSyncs(_Repo):
    async def add(self, sync: ClientSync) -> None:
        values = to_values(sync)
        await self._insert(t.client_syncs, values, Conflict("client sync exists", code="client_sync_exists"))

    async def list(self, tenant_id: str, instance_id: str, page: PageRequest) -> tuple[list[ClientSync], int]:
        c = t.client_syncs.c
        where = (c.tenant_id == tenant_id) & (c.instance_id == instance_id)
        return await self._page(t.client_syncs, _sync, page, where, c.at.desc(), c.id.desc())
