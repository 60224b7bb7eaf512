"""In-memory repository of sandboxes."""

from __future__ import annotations

from datetime import datetime

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import GONE, TRANSIENT, Sandbox, SandboxState


class MemorySandboxes(_Repo):
    async def add(self, sandbox: Sandbox) -> None:
        self._put(self._store.sandboxes, sandbox.id, sandbox)

    async def get(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        return self._owned(self._store.sandboxes, tenant_id, sandbox_id)

    async def find(self, sandbox_id: str) -> Sandbox | None:
        return self._store.sandboxes.get(sandbox_id)

    async def update(self, sandbox: Sandbox, *, if_updated_at: datetime | None = None) -> bool:
        if not self._is_current(self._store.sandboxes, sandbox, if_updated_at):
            return False
        self._put(self._store.sandboxes, sandbox.id, sandbox)
        return True

    async def count(self, tenant_id: str) -> int:
        return sum(1 for s in self._store.sandboxes.values() if s.tenant_id == tenant_id and s.state not in GONE)

    async def due(self, now: datetime, limit: int = 100) -> list[Sandbox]:
        found = [s for s in self._store.sandboxes.values() if s.due(now) is not None]
        return sorted(found, key=lambda s: (s.expires_at, s.id))[:limit]

    async def unsettled(self) -> list[Sandbox]:
        return sorted((s for s in self._store.sandboxes.values() if s.state in TRANSIENT), key=lambda s: s.id)

    async def live(self) -> list[Sandbox]:
        return sorted((s for s in self._store.sandboxes.values() if s.state not in GONE), key=lambda s: s.id)

    async def list(
        self, tenant_id: str, page: PageRequest, state: SandboxState | None = None
    ) -> tuple[list[Sandbox], int]:
        found = [
            s
            for s in self._store.sandboxes.values()
            if s.tenant_id == tenant_id and s.state not in GONE and state in (None, s.state)
        ]
        return page.window(sorted(found, key=lambda s: s.id, reverse=True))
