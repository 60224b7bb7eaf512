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
        f = t.project_files.c
        row = await self._one(
            select(t.project_files).where(f.id == file_id, f.tenant_id == tenant_id, f.project_id == project_id)
        )
        return _file(row) if row else None

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None:
        f = t.project_files.c
        row = await self._one(
            select(t.project_files).where(f.name == name, f.tenant_id == tenant_id, f.project_id == project_id)
        )
        return _file(row) if row else None

    async def used_bytes(self, tenant_id: str) -> int:
        f = t.project_files.c
        stmt = select(func.coalesce(func.sum(f.size), 0)).where(f.tenant_id == tenant_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool:
        f = t.project_files.c
        result = await self._conn.execute(
            delete(t.project_files).where(f.id == file_id, f.tenant_id == tenant_id, f.project_id == project_id)
        )
        return bool(result.rowcount)

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        f = t.project_files.c
        where = (f.tenant_id == tenant_id) & (f.project_id == project_id)
        keys = [row.storage_key for row in await self._all(select(f.storage_key).where(where))]
        await self._conn.execute(delete(t.project_files).where(where))
        return keys

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        f = t.project_files.c
        where = (f.tenant_id == tenant_id) & (f.project_id == project_id)
        rows, total = await self._page(t.project_files, where, f.name, page)
        return [_file(r) for r in rows], total
