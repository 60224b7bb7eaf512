"""SQL repository of projects, with each tenant's project counter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import Project, ProjectFilter, name_key
from tesserra_core.errors import Conflict


def _project(r: Row[Any]) -> Project:
    return from_row(Project, r)


def _project_values(p: Project) -> dict[str, Any]:
    return to_values(p, name_key=name_key(p.name))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlProjects(_Repo):
    async def add(self, project: Project) -> None:
        await self._insert(t.projects, _project_values(project), _name_taken(project.name))
        await self._conn.execute(_bump_count(self._conn.dialect.name, project.tenant_id))

    async def get(self, tenant_id: str, project_id: str) -> Project | None:
        return await self._read_owned(t.projects, _project, tenant_id, project_id)

    async def list(self, tenant_id: str, page: PageRequest, where: ProjectFilter) -> tuple[list[Project], int]:
        p = t.projects.c
        clause = p.tenant_id == tenant_id
        if where.status is not None:
            clause = and_(clause, p.status == where.status.value)
        if where.name:
            clause = and_(clause, p.name_key.like(_like(where.name.casefold()), escape="\\"))
        if where.status is not None or where.name:
            return await self._page(t.projects, _project, page, clause, p.id.desc())
        # Unfiltered: the page's ids from the (tenant_id, id) index alone (an index-only scan, so a
        # deep offset skips index entries, not table rows), then those rows; the total from the
        # tenant's counter (an exact COUNT would read every index entry of a large tenant).
        ids = select(p.id).where(clause).order_by(p.id.desc()).limit(page.limit).offset(page.offset).subquery("page")
        stmt = select(t.projects).join(ids, p.id == ids.c.id).order_by(p.id.desc())
        rows = await self._all(stmt)
        if page.offset == 0 and len(rows) < page.limit:
            return [_project(r) for r in rows], len(rows)
        return [_project(r) for r in rows], await self.count(tenant_id)

    async def update(self, project: Project) -> None:
        try:
            await self._update_owned(t.projects, project.tenant_id, project.id, _project_values(project))
        except IntegrityError:
            raise _name_taken(project.name) from None

    async def delete(self, tenant_id: str, project_id: str) -> bool:
        # Its resources first, explicitly: the port promises it, whatever the foreign keys do.
        await self._delete_by(t.resources, project_id=project_id, tenant_id=tenant_id)
        if not await self._delete_owned(t.projects, tenant_id, project_id):
            return False
        c = t.project_counts.c
        await self._conn.execute(
            update(t.project_counts).where(c.tenant_id == tenant_id).values(projects=c.projects - 1)
        )
        return True

    async def count(self, tenant_id: str) -> int:
        c = t.project_counts.c
        value = (await self._conn.execute(select(c.projects).where(c.tenant_id == tenant_id))).scalar()
        return int(value or 0)


def _bump_count(dialect: str, tenant_id: str) -> Any:
    """Add one to the tenant's project count (creating its counter at 1)."""
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t.project_counts)
    stmt = upsert.values(tenant_id=tenant_id, projects=1)
    return stmt.on_conflict_do_update(
        index_elements=[t.project_counts.c.tenant_id], set_={"projects": t.project_counts.c.projects + 1}
    )


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a project named {name!r} exists", code="project_name_taken")
