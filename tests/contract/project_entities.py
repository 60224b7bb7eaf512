"""Projects and resources with unique ids and names, for the shared contract databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tesserra_core.domain.identity import Tenant
from tesserra_core.domain.projects import Project, ProjectStatus
from tesserra_core.domain.resources import Resource, ResourceStatus
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, tenant, unique


def project(tenant_id: str, **changes: Any) -> Project:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "name": unique("Loja"),
        "description": "A shop",
        "status": ProjectStatus.ACTIVE,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
    }
    return Project(**{**values, **changes})


def resource(tenant_id: str, project_id: str, **changes: Any) -> Resource:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "project_id": project_id,
        "type": "web_app",
        "name": unique("site"),
        "config": {"image": "busybox", "port": 8080, "env": {"A": "1"}, "command": ["httpd", "-f"], "cpus": 0.5},
        "status": ResourceStatus.PENDING,
        "status_reason": "",
        "workload_id": None,
        "endpoint": None,
        "created_at": T0,
        "updated_at": T0,
    }
    return Resource(**{**values, **changes})


async def seed_tenant(uow_factory: UnitOfWorkFactory) -> Tenant:
    t = tenant()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    return t


async def seed_project(uow_factory: UnitOfWorkFactory, tenant_id: str | None = None, **changes: Any) -> Project:
    tenant_id = tenant_id or (await seed_tenant(uow_factory)).id
    p = project(tenant_id, **changes)
    async with uow_factory() as uow:
        await uow.projects.add(p)
        await uow.commit()
    return p
