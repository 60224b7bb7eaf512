"""In-memory repository of projects."""

from __future__ import annotations

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import Project, ProjectFilter, name_key
from tesserra_core.errors import Conflict


class MemoryProjects(_Repo):
    async def add(self, project: Project) -> None:
        self._ensure_name_free(project)
        self._put(self._store.projects, project.id, project)

    async def get(self, tenant_id: str, project_id: str) -> Project | None:
        return self._owned(self._store.projects, tenant_id, project_id)

    async def list(self, tenant_id: str, page: PageRequest, where: ProjectFilter) -> tuple[list[Project], int]:
        needle = where.name.casefold() if where.name else None
        found = [
            p
            for p in self._store.projects.values()
            if p.tenant_id == tenant_id
            and (where.status is None or p.status is where.status)
            and (needle is None or needle in name_key(p.name))
        ]
        return page.window(sorted(found, key=lambda p: p.id, reverse=True))

    async def update(self, project: Project) -> None:
        self._ensure_name_free(project)
        self._put(self._store.projects, project.id, project)

    async def delete(self, tenant_id: str, project_id: str) -> bool:
        if not self._pop_owned(self._store.projects, tenant_id, project_id):
            return False
        for resource in [r for r in self._store.resources.values() if r.project_id == project_id]:
            self._drop(self._store.resources, resource.id)
        return True

    async def count(self, tenant_id: str) -> int:
        return sum(1 for p in self._store.projects.values() if p.tenant_id == tenant_id)

    def _ensure_name_free(self, project: Project) -> None:
        key = name_key(project.name)
        for p in self._store.projects.values():
            if p.tenant_id == project.tenant_id and p.id != project.id and name_key(p.name) == key:
                raise Conflict(f"a project named {project.name!r} exists", code="project_name_taken")
