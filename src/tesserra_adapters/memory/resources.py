"""In-memory repository of resources."""

from __future__ import annotations

from datetime import datetime

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.resources import UNSETTLED, Resource
from tesserra_core.errors import Conflict


class MemoryResources(_Repo):
    async def add(self, resource: Resource) -> None:
        self._ensure_resource_name_free(resource)
        self._put(self._store.resources, resource.id, resource)

    async def get(self, tenant_id: str, resource_id: str) -> Resource | None:
        return self._owned(self._store.resources, tenant_id, resource_id)

    async def find(self, resource_id: str) -> Resource | None:
        return self._store.resources.get(resource_id)

    async def all_of(self, tenant_id: str, project_id: str | None = None) -> list[Resource]:
        found = [
            r for r in self._store.resources.values() if r.tenant_id == tenant_id and project_id in (None, r.project_id)
        ]
        return sorted(found, key=lambda r: r.id)

    async def update(self, resource: Resource, *, if_updated_at: datetime | None = None) -> bool:
        if not self._is_current(self._store.resources, resource, if_updated_at):
            return False
        self._ensure_resource_name_free(resource)
        self._put(self._store.resources, resource.id, resource)
        return True

    async def delete(self, tenant_id: str, resource_id: str) -> bool:
        return self._pop_owned(self._store.resources, tenant_id, resource_id)

    async def count(self, tenant_id: str) -> int:
        return sum(1 for r in self._store.resources.values() if r.tenant_id == tenant_id)

    async def unsettled(self) -> list[Resource]:
        return sorted((r for r in self._store.resources.values() if r.status in UNSETTLED), key=lambda r: r.id)

    def _ensure_resource_name_free(self, resource: Resource) -> None:
        for r in self._store.resources.values():
            if r.project_id == resource.project_id and r.id != resource.id and r.name == resource.name:
                raise Conflict(f"the project has a resource named {resource.name!r}", code="resource_name_taken")

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[Resource], int]:
        return page.window(await self.all_of(tenant_id, project_id))
