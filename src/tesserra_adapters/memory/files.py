"""In-memory repository of project files."""

from __future__ import annotations

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class MemoryProjectFiles(_Repo):
    async def add(self, file: ProjectFile) -> None:
        if await self.get_by_name(file.tenant_id, file.project_id, file.name) is not None or any(
            f.project_id == file.project_id and f.name == file.name for f in self._store.project_files.values()
        ):
            raise Conflict(f"filename: the project already holds a file named {file.name!r}", code="file_exists")
        self._put(self._store.project_files, file.id, file)

    async def get(self, tenant_id: str, project_id: str, file_id: str) -> ProjectFile | None:
        f = self._store.project_files.get(file_id)
        return f if f is not None and f.tenant_id == tenant_id and f.project_id == project_id else None

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None:
        files = self._store.project_files.values()
        return next(
            (f for f in files if f.tenant_id == tenant_id and f.project_id == project_id and f.name == name), None
        )

    async def used_bytes(self, tenant_id: str) -> int:
        return sum(f.size for f in self._store.project_files.values() if f.tenant_id == tenant_id)

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool:
        if await self.get(tenant_id, project_id, file_id) is None:
            return False
        return self._pop(self._store.project_files, file_id)

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        files = self._store.project_files.values()
        mine = [f for f in files if f.tenant_id == tenant_id and f.project_id == project_id]
        for f in mine:
            self._pop(self._store.project_files, f.id)
        return [f.storage_key for f in mine]

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        mine = [
            f for f in self._store.project_files.values() if f.tenant_id == tenant_id and f.project_id == project_id
        ]
        return page.window(sorted(mine, key=lambda f: f.name))
