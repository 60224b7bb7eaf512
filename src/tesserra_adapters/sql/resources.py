"""SQL repository of resources (a resource's config is stored as JSON text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, select
from sqlalchemy.exc import IntegrityError

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.resources import UNSETTLED, Resource
from tesserra_core.errors import Conflict

_config = msgspec.json.Encoder()
_config_decoder = msgspec.json.Decoder(dict[str, Any])


def _resource(r: Row[Any]) -> Resource:
    return from_row(Resource, r, config=_config_decoder.decode(r.config))


def _resource_values(r: Resource) -> dict[str, Any]:
    return to_values(r, config=_config.encode(r.config).decode())


def _resource_name_taken(name: str) -> Conflict:
    return Conflict(f"the project has a resource named {name!r}", code="resource_name_taken")


class SqlResources(_Repo):
    async def add(self, resource: Resource) -> None:
        await self._insert(t.resources, _resource_values(resource), _resource_name_taken(resource.name))

    async def get(self, tenant_id: str, resource_id: str) -> Resource | None:
        return await self._read_owned(t.resources, _resource, tenant_id, resource_id)

    async def find(self, resource_id: str) -> Resource | None:
        return await self._read_by(t.resources, _resource, id=resource_id)

    async def all_of(self, tenant_id: str, project_id: str | None = None) -> list[Resource]:
        c = t.resources.c
        where = c.tenant_id == tenant_id
        if project_id is not None:
            where = and_(where, c.project_id == project_id)
        return [_resource(r) for r in await self._all(select(t.resources).where(where).order_by(c.id))]

    async def update(self, resource: Resource, *, if_updated_at: datetime | None = None) -> bool:
        values = _resource_values(resource)
        try:
            return await self._update_owned(
                t.resources, resource.tenant_id, resource.id, values, if_updated_at=if_updated_at
            )
        except IntegrityError:
            raise _resource_name_taken(resource.name) from None

    async def delete(self, tenant_id: str, resource_id: str) -> bool:
        return await self._delete_owned(t.resources, tenant_id, resource_id)

    async def count(self, tenant_id: str) -> int:
        return await self._count(t.resources, t.resources.c.tenant_id == tenant_id)

    async def unsettled(self) -> list[Resource]:
        c = t.resources.c
        stmt = select(t.resources).where(c.status.in_([s.value for s in UNSETTLED])).order_by(c.id)
        return [_resource(r) for r in await self._all(stmt)]

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[Resource], int]:
        c = t.resources.c
        where = and_(c.tenant_id == tenant_id, c.project_id == project_id)
        return await self._page(t.resources, _resource, page, where, c.id)
