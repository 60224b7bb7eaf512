"""The project file repository: the same contract on memory, SQLite and PostgreSQL (tenant and project
scoping, names unique per project, bytes summed per tenant, pages)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.domain_entities import a_tenant
from tests.contract.entities import T0, new_id


def project_file(tenant_id: str, project_id: str, **changes: Any) -> ProjectFile:
    file_id = new_id()
    values: dict[str, Any] = {
        "id": file_id,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "name": f"relatório {uuid.uuid4().hex[:6]}.pdf",
        "size": 1234,
        "sha256": "ab" * 32,
        "content_type": "application/pdf",
        "storage_key": f"{tenant_id}/{project_id}/{file_id}",
        "created_at": T0,
    }
    return ProjectFile(**{**values, **changes})


async def test_project_files_round_trip_unique_per_project_and_sum_per_tenant(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    project, other_project = new_id(), new_id()
    files = sorted((project_file(mine, project, size=10 * (i + 1)) for i in range(3)), key=lambda f: f.name)
    elsewhere = project_file(mine, other_project, name=files[0].name, size=1000)
    async with uow_factory() as uow:
        for f in [*files, elsewhere, project_file(theirs, new_id(), size=7)]:
            await uow.project_files.add(f)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.project_files.add(project_file(mine, project, name=files[1].name))
    async with uow_factory() as uow:
        assert await uow.project_files.get(mine, project, files[0].id) == files[0]
        assert await uow.project_files.get(theirs, project, files[0].id) is None
        assert await uow.project_files.get(mine, other_project, files[0].id) is None
        assert await uow.project_files.get_by_name(mine, project, files[2].name) == files[2]
        assert await uow.project_files.list(mine, project, PageRequest(500, 0)) == (files, 3)
        assert await uow.project_files.used_bytes(mine) == 10 + 20 + 30 + 1000
        assert await uow.project_files.used_bytes(new_id()) == 0
        assert not await uow.project_files.delete(theirs, project, files[0].id)
        assert await uow.project_files.delete(mine, project, files[0].id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.project_files.used_bytes(mine) == sum(f.size for f in files[1:]) + 1000


async def test_forgetting_a_projects_files_hands_back_their_keys(uow_factory: UnitOfWorkFactory) -> None:
    mine = await a_tenant(uow_factory)
    project, kept_project = new_id(), new_id()
    gone = [project_file(mine, project) for _ in range(2)]
    kept = project_file(mine, kept_project)
    async with uow_factory() as uow:
        for f in [*gone, kept]:
            await uow.project_files.add(f)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.project_files.delete_project(new_id(), project) == []
        keys = await uow.project_files.delete_project(mine, project)
        await uow.commit()
    assert sorted(keys) == sorted(f.storage_key for f in gone)
    async with uow_factory(read_only=True) as uow:
        assert await uow.project_files.list(mine, project, PageRequest()) == ([], 0)
        assert await uow.project_files.used_bytes(mine) == kept.size
