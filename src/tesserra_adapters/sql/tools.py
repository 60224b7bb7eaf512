"""SQL repositories of the tool platform: the catalog and installations."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Row, and_, delete, insert, or_, select, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo, from_row, to_values
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import CatalogEntry, Installation, InstallScope, ToolInfo
from tesserra_core.errors import Conflict

_entry_decoder = msgspec.json.Decoder(CatalogEntry)
_tools_decoder = msgspec.json.Decoder(tuple[ToolInfo, ...])
_config_decoder = msgspec.json.Decoder(dict[str, str])


def search_text(entry: CatalogEntry) -> str:
    """What a catalog text search looks in, lower-cased (the memory adapter matches the same way)."""
    return " ".join((entry.name, entry.title or "", entry.description, entry.category, *entry.tags)).lower()


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _entry(r: Row[Any]) -> CatalogEntry:
    return _entry_decoder.decode(r.document)


class SqlCatalog(Repo):
    async def replace(self, entries: list[CatalogEntry]) -> None:
        await self._conn.execute(delete(t.catalog_entries))
        if entries:
            await self._conn.execute(
                insert(t.catalog_entries),
                [
                    {
                        "id": e.id,
                        "name": e.name,
                        "category": e.category,
                        "tags": f" {' '.join(e.tags)} ",
                        "search_text": search_text(e),
                        "document": msgspec.json.encode(e).decode(),
                    }
                    for e in entries
                ],
            )

    async def get(self, entry_id: str) -> CatalogEntry | None:
        return await self._read_by(t.catalog_entries, _entry, id=entry_id)

    async def search(
        self, page: PageRequest, *, text: str | None = None, category: str | None = None, tag: str | None = None
    ) -> tuple[list[CatalogEntry], int]:
        c = t.catalog_entries.c
        where: list[Any] = []
        for word in (text or "").lower().split():
            where.append(c.search_text.like(_like(word), escape="\\"))
        if category is not None:
            where.append(c.category == category)
        if tag is not None:
            where.append(c.tags.like(_like(f" {tag} "), escape="\\"))
        return await self._page(t.catalog_entries, _entry, page, and_(True, *where), c.name)

    async def count(self) -> int:
        return await self._count(t.catalog_entries)


def _installation(r: Row[Any]) -> Installation:
    return from_row(
        Installation,
        r,
        config=_config_decoder.decode(r.config),
        secret_names=tuple(r.secret_names.split()),
        tools=_tools_decoder.decode(r.tools),
    )


def _values(i: Installation) -> dict[str, Any]:
    return to_values(
        i,
        config=msgspec.json.encode(i.config).decode(),
        secret_names=" ".join(i.secret_names),
        tools=msgspec.json.encode(i.tools).decode(),
    )


class SqlInstallations(Repo):
    async def add(self, installation: Installation) -> None:
        await self._insert(t.installations, _values(installation), Conflict("installation exists", code="exists"))

    async def get(self, tenant_id: str, installation_id: str) -> Installation | None:
        return await self._read_owned(t.installations, _installation, tenant_id, installation_id)

    async def find(self, installation_id: str) -> Installation | None:
        return await self._read_by(t.installations, _installation, id=installation_id)

    async def list_visible(self, tenant_id: str, user_id: str, page: PageRequest) -> tuple[list[Installation], int]:
        c = t.installations.c
        where = and_(c.tenant_id == tenant_id, or_(c.scope == InstallScope.TENANT.value, c.user_id == user_id))
        return await self._page(t.installations, _installation, page, where, c.id.desc())

    async def count(self, tenant_id: str) -> int:
        return await self._count(t.installations, t.installations.c.tenant_id == tenant_id)

    async def update(self, installation: Installation) -> bool:
        c = t.installations.c
        values = _values(installation)
        del values["id"], values["tenant_id"], values["created_at"]
        result = await self._conn.execute(update(t.installations).where(c.id == installation.id).values(values))
        return bool(result.rowcount)

    async def delete(self, tenant_id: str, installation_id: str) -> bool:
        return await self._delete_owned(t.installations, tenant_id, installation_id)

    async def all(self) -> list[Installation]:
        return [_installation(r) for r in await self._all(select(t.installations).order_by(t.installations.c.id))]
