"""Marketplace tools: search the catalog, and one tool's details."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import marketplace
from tesserra_core.usecases.marketplace import CatalogQuery
from tesserra_core.usecases.tool_views import MarketplaceToolView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(marketplace.SearchMarketplace)
async def search_marketplace(
    query: Annotated[str | None, Field(description="Words the tool's name, description or tags must hold.")] = None,
    category: Annotated[str | None, Field(description="Exact category, e.g. developer.")] = None,
    tag: Annotated[str | None, Field(description="A tag the tool carries.")] = None,
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[MarketplaceToolView]:
    return await uc.marketplace.search(actor, CatalogQuery(query, category, tag), PageRequest(limite, offset))


@tools.tool(marketplace.GetMarketplaceTool)
async def get_tool_details(tool_id: str, *, uc: UseCases, actor: Principal) -> MarketplaceToolView:
    return await uc.marketplace.get_tool(actor, tool_id)
