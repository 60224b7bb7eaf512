"""In-memory repositories of the tool platform (the same contract suite as the SQL ones)."""

from __future__ import annotations

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import CatalogEntry, Installation, InstallScope
from tesserra_core.errors import Conflict


class MemoryCatalog(_Repo):
    async def replace(self, entries: list[CatalogEntry]) -> None:
        table = self._store.catalog
        old = dict(table)
        table.clear()
        table.update({e.id: e for e in entries})

        def undo() -> None:
            table.clear()
            table.update(old)

        self._journal.append(undo)

    async def get(self, entry_id: str) -> CatalogEntry | None:
        return self._store.catalog.get(entry_id)

    async def search(
        self, page: PageRequest, *, text: str | None = None, category: str | None = None, tag: str | None = None
    ) -> tuple[list[CatalogEntry], int]:
        found = [e for e in self._store.catalog.values() if e.matches(text, category, tag)]
        return page.window(sorted(found, key=lambda e: e.name))

    async def count(self) -> int:
        return len(self._store.catalog)


class MemoryInstallations(_Repo):
    async def add(self, installation: Installation) -> None:
        if installation.id in self._store.installations:
            raise Conflict("installation exists", code="exists")
        self._put(self._store.installations, installation.id, installation)

    async def get(self, tenant_id: str, installation_id: str) -> Installation | None:
        return self._owned(self._store.installations, tenant_id, installation_id)

    async def find(self, installation_id: str) -> Installation | None:
        return self._store.installations.get(installation_id)

    async def list_visible(self, tenant_id: str, user_id: str, page: PageRequest) -> tuple[list[Installation], int]:
        found = [
            i
            for i in self._store.installations.values()
            if i.tenant_id == tenant_id and (i.scope is InstallScope.TENANT or i.user_id == user_id)
        ]
        return page.window(sorted(found, key=lambda i: i.id, reverse=True))

    async def count(self, tenant_id: str) -> int:
        return sum(1 for i in self._store.installations.values() if i.tenant_id == tenant_id)

    async def update(self, installation: Installation) -> bool:
        if installation.id not in self._store.installations:
            return False
        self._put(self._store.installations, installation.id, installation)
        return True

    async def delete(self, tenant_id: str, installation_id: str) -> bool:
        return self._pop_owned(self._store.installations, tenant_id, installation_id)

    async def all(self) -> list[Installation]:
        return sorted(self._store.installations.values(), key=lambda i: i.id)
