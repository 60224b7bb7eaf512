"""SQL repository of project files (their metadata; the bytes are in file storage)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, select

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


def _file(r: Row[Any]) -> ProjectFile:
    return from_row(ProjectFile, r)


class SqlProjectFiles(_Repo):
    async def add(self, file: ProjectFile) -> None:
        values = to_values(file)
        conflict = Conflict(f"filename: the project already holds a file named {file.name!r}", code="file_exists")
        await self._insert(t.project_files, values, conflict)

    async def get(self, tenant_id: str, project_id: str, file_id: str) -> ProjectFile | None:
        return await self._read_by(t.project_files, _file, id=file_id, tenant_id=tenant_id, project_id=project_id)

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None:
        return await self._read_by(t.project_files, _file, name=name, tenant_id=tenant_id, project_id=project_id)

    async def used_bytes(self, tenant_id: str) -> int:
        f = t.project_files.c
        stmt = select(func.coalesce(func.sum(f.size), 0)).where(f.tenant_id == tenant_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool:
        return await self._delete_by(t.project_files, id=file_id, tenant_id=tenant_id, project_id=project_id)

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        f = t.project_files.c
        where = (f.tenant_id == tenant_id) & (f.project_id == project_id)
        keys = [row.storage_key for row in await self._all(select(f.storage_key).where(where))]
        await self._conn.execute(delete(t.project_files).where(where))
        return keys

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        f = t.project_files.c
        where = (f.tenant_id == tenant_id) & (f.project_id == project_id)
        return await self._page(t.project_files, _file, page, where, f.name)
