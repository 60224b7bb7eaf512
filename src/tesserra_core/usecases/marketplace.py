"""The marketplace (search and details) and the registry (server.json definitions), one catalog.

The catalog starts as the built-in one shipped with the package and is replaced, as a whole and in
one transaction, by ``RefreshCatalog`` from the configured source: invalid entries are reported
and skipped, valid ones applied together, so a refresh is never half-applied.

Searches are answered from each worker's cache of what the store returned: the catalog changes only
by a refresh, which evicts this worker's cache at once and every other worker's through the revocation
feed (within one poll). A search whose read an eviction overtook is not kept, and the requests that
miss together read once (``TaggedCache.fetch``); entries also expire after ``SEARCH_CACHE_SECONDS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.tools import CatalogEntry, check_entry, entry_id
from tesserra_core.errors import TesserraError, Unavailable, ValidationFailed, found
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.ports.tools import CatalogSource
from tesserra_core.usecases.caching import Fresh, TaggedCache
from tesserra_core.usecases.credentials import Revoker
from tesserra_core.usecases.tool_views import MarketplaceToolView, RefreshReport, RegistryEntryView

MAX_QUERY = 200
CATALOG_TAG = "catalog:all"
"""The revocation a refresh publishes: every worker drops its cached searches."""
SEARCH_CACHE_SECONDS = 10.0
Hits = tuple[list[CatalogEntry], int]
log = logging.getLogger("tesserra.tools")


class CatalogQuery(msgspec.Struct, frozen=True):
    q: str | None = None
    category: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        for name in ("q", "category", "tag"):
            value = getattr(self, name)
            if value is not None and (len(value) > MAX_QUERY or "\x00" in value):
                raise ValidationFailed(f"{name}: at most {MAX_QUERY} characters", code="invalid_query")


def parse_documents(documents: list[Any]) -> tuple[list[CatalogEntry], list[str]]:
    """Entries from raw documents: a server.json each, bare or wrapped as the registry API wraps it
    (``{"server": {...}, "_meta": ...}``). Returns the valid entries and one line per invalid one."""
    entries: dict[str, CatalogEntry] = {}
    skipped: list[str] = []
    for index, document in enumerate(documents):
        raw = document.get("server", document) if isinstance(document, dict) else document
        label = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
        try:
            if not isinstance(raw, dict):
                raise ValidationFailed("not an object")
            fields = {k: v for k, v in raw.items() if not k.startswith("$") and k not in ("_meta", "repository")}
            if isinstance(fields.get("name"), str):
                fields.setdefault("id", entry_id(fields["name"]))
            if isinstance(fields.get("websiteUrl"), str):
                fields.setdefault("homepage", fields.pop("websiteUrl"))
            fields.pop("websiteUrl", None)
            entry = check_entry(msgspec.convert(fields, CatalogEntry))
        except (msgspec.ValidationError, TesserraError) as exc:
            skipped.append(f"{str(label)[:200]}: {exc}")
            continue
        if entry.id in entries:
            skipped.append(f"{entry.name}: duplicate id {entry.id}")
            continue
        entries[entry.id] = entry
    return list(entries.values()), skipped


@dataclass(frozen=True, slots=True)
class SearchMarketplace:
    """Search the marketplace of MCP tool servers by text, category and tag; the tools come by name."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory
    clock: Clock
    cache: TaggedCache[Hits]

    async def __call__(self, actor: Principal, query: CatalogQuery, page: PageRequest) -> Page[MarketplaceToolView]:
        actor.require(self.scope)
        key = msgspec.json.encode((query.q, query.category, query.tag, page.limit, page.offset)).decode()
        now = self.clock.monotonic()

        async def search() -> Fresh[Hits]:
            async with self.uow(read_only=True) as uow:
                hits = await uow.catalog.search(page, text=query.q, category=query.category, tag=query.tag)
            return hits, now + SEARCH_CACHE_SECONDS, (CATALOG_TAG,)

        return page.answer(await self.cache.fetch(key, now, search), MarketplaceToolView.of)


async def catalog_entry(uow: UnitOfWorkFactory, tool_id: str) -> CatalogEntry:
    """The marketplace's tool of that id, or 404."""
    async with uow(read_only=True) as u:
        return found(await u.catalog.get(tool_id), "no such tool in the marketplace", code="tool_not_found")


@dataclass(frozen=True, slots=True)
class GetMarketplaceTool:
    """One marketplace tool: what it does, how it runs, and the settings an install takes."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, tool_id: str) -> MarketplaceToolView:
        actor.require(self.scope)
        return MarketplaceToolView.of(await catalog_entry(self.uow, tool_id))


@dataclass(frozen=True, slots=True)
class ListRegistry:
    """Registry-backed tool definitions, as server.json documents (plus category and tags)."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[RegistryEntryView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.catalog.search(page), RegistryEntryView.of)


@dataclass(frozen=True, slots=True)
class GetRegistryEntry:
    """One registry-backed tool definition, as a server.json document (plus category and tags)."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, tool_id: str) -> RegistryEntryView:
        actor.require(self.scope)
        return RegistryEntryView.of(await catalog_entry(self.uow, tool_id))


@dataclass(frozen=True, slots=True)
class RefreshCatalog:
    """Reload the marketplace catalog from the configured source (platform administrators). Invalid entries are
    reported and skipped; the valid ones replace the catalog in one transaction (a source with none changes
    nothing: ``catalog_empty``)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    source: CatalogSource
    revoker: Revoker

    async def __call__(self, actor: Principal) -> RefreshReport:
        actor.require_platform_admin()
        return await self.load()

    async def load(self) -> RefreshReport:
        documents = await self.source.documents()
        entries, skipped = parse_documents(documents)
        if not entries:
            raise Unavailable(
                f"the catalog source {self.source.name} has no valid entry; the catalog is unchanged",
                code="catalog_empty",
            )
        async with self.uow() as uow:
            await uow.catalog.replace(entries)
            await self.revoker.publish(uow, CATALOG_TAG)
            await uow.commit()
        self.revoker.evict(CATALOG_TAG)
        return RefreshReport(self.source.name, len(entries), skipped)

    async def ensure_loaded(self) -> None:
        """At start-up: load the catalog if the store has none yet. A source that cannot be read
        leaves it empty (logged); an administrator's refresh loads it later."""
        async with self.uow(read_only=True) as uow:
            empty = await uow.catalog.count() == 0
        if empty:
            try:
                await self.load()
            except TesserraError as exc:
                log.warning("the catalog was not loaded from %s: %s", self.source.name, exc.message)


@dataclass(frozen=True, slots=True)
class Marketplace:
    """/api/marketplace/tools, /api/marketplace/refresh and /api/registry."""

    search: SearchMarketplace
    get_tool: GetMarketplaceTool
    list_registry: ListRegistry
    get_registry_entry: GetRegistryEntry
    refresh_catalog: RefreshCatalog


def marketplace(p: Ports, *, revoker: Revoker, searches: TaggedCache[Hits]) -> Marketplace:
    return Marketplace(
        search=SearchMarketplace(p.uow, p.clock, searches),
        get_tool=GetMarketplaceTool(p.uow),
        list_registry=ListRegistry(p.uow),
        get_registry_entry=GetRegistryEntry(p.uow),
        refresh_catalog=RefreshCatalog(p.uow, p.catalog_source, revoker),
    )
