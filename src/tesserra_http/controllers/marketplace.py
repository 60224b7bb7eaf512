"""/api/marketplace and /api/registry: the catalog of tool servers, and installing one."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.installations import InstallRequest, InstallTool
from tesserra_core.usecases.marketplace import (
    CatalogQuery,
    GetMarketplaceTool,
    GetRegistryEntry,
    ListRegistry,
    RefreshCatalog,
    SearchMarketplace,
)
from tesserra_core.usecases.tool_views import InstallationView, MarketplaceToolView, RefreshReport, RegistryEntryView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

Text = Annotated[str | None, QueryParameter(description="Words that name, title, description or tags must all hold.")]


def marketplace_routes(uc: UseCases) -> Router:
    @get("/tools", **declare(uses=SearchMarketplace, errors=(400, 403)))
    async def search(
        request: Caller,
        page: Paging,
        q: Text = None,
        category: Annotated[str | None, QueryParameter(description="Exact category.")] = None,
        tag: Annotated[str | None, QueryParameter(description="A tag the tool carries.")] = None,
    ) -> Page[MarketplaceToolView]:
        return await uc.marketplace.search(request.user, CatalogQuery(q, category, tag), page)

    @get("/tools/{tool_id:str}", **declare(uses=GetMarketplaceTool, errors=(403, 404)))
    async def details(tool_id: FromPath[str], request: Caller) -> MarketplaceToolView:
        return await uc.marketplace.get_tool(request.user, tool_id)

    @post(
        "/tools/{tool_id:str}/install",
        status_code=202,
        **declare(uses=InstallTool, idempotent=True, errors=(400, 402, 403, 404)),
    )
    async def install(tool_id: FromPath[str], data: JSONBody[InstallRequest], request: Caller) -> InstallationView:
        return await uc.installations.install(request.user, tool_id, data)

    @post("/refresh", status_code=200, **declare(uses=RefreshCatalog, errors=(403, 503)))
    async def refresh(request: Caller) -> RefreshReport:
        return await uc.marketplace.refresh_catalog(request.user)

    return Router("/api/marketplace", tags=["Marketplace"], route_handlers=[search, details, install, refresh])


def registry_routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListRegistry, errors=(400, 403)))
    async def list_registry(request: Caller, page: Paging) -> Page[RegistryEntryView]:
        return await uc.marketplace.list_registry(request.user, page)

    @get("/{tool_id:str}", **declare(uses=GetRegistryEntry, errors=(403, 404)))
    async def get_registry(tool_id: FromPath[str], request: Caller) -> RegistryEntryView:
        return await uc.marketplace.get_registry_entry(request.user, tool_id)

    return Router("/api/registry", tags=["Marketplace"], route_handlers=[list_registry, get_registry])
