"""In-memory repositories of OAuth states, linked accounts and client syncs (same contract as SQL)."""

from __future__ import annotations

from datetime import datetime

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.shared_tools import ClientSync, OAuthLink, OAuthState
from tesserra_core.errors import Conflict


class MemoryOAuthStates(_Repo):
    async def add(self, state: OAuthState) -> None:
        if state.id in self._store.oauth_states:
            raise Conflict("OAuth state exists", code="oauth_state_exists")
        self._put(self._store.oauth_states, state.id, state)

    async def get(self, state_id: str) -> OAuthState | None:
        return self._store.oauth_states.get(state_id)

    async def consume(self, state_id: str, at: datetime) -> bool:
        return self._stamp(self._store.oauth_states, state_id, "used_at", at)

    async def purge(self, before: datetime) -> int:
        old = [k for k, s in self._store.oauth_states.items() if s.expires_at < before]
        for key in old:
            self._drop(self._store.oauth_states, key)
        return len(old)


class MemoryOAuthLinks(_Repo):
    async def get(self, tenant_id: str, user_id: str, tool_id: str) -> OAuthLink | None:
        return self._store.oauth_links.get((tenant_id, user_id, tool_id))

    async def put(self, link: OAuthLink) -> None:
        self._put(self._store.oauth_links, (link.tenant_id, link.user_id, link.tool_id), link)

    async def list_for_user(self, tenant_id: str, user_id: str) -> list[OAuthLink]:
        found = [v for (t, u, _), v in self._store.oauth_links.items() if t == tenant_id and u == user_id]
        return sorted(found, key=lambda link: link.tool_id)

    async def delete(self, tenant_id: str, user_id: str, tool_id: str) -> bool:
        key = (tenant_id, user_id, tool_id)
        if key not in self._store.oauth_links:
            return False
        self._drop(self._store.oauth_links, key)
        return True


class MemoryClientSyncs(_Repo):
    async def add(self, sync: ClientSync) -> None:
        self._put(self._store.client_syncs, sync.id, sync)

    async def list(self, tenant_id: str, instance_id: str, page: PageRequest) -> tuple[list[ClientSync], int]:
        found = [
            s for s in self._store.client_syncs.values() if (s.tenant_id, s.instance_id) == (tenant_id, instance_id)
        ]
        return page.window(sorted(found, key=lambda s: (s.at, s.id), reverse=True))
