"""Marketplace tools: search the catalog, and one tool's details."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.marketplace import CatalogQuery, GetMarketplaceTool, SearchMarketplace
from tesserra_core.usecases.tool_views import MarketplaceToolView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(SearchMarketplace)
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
    """Search the marketplace of MCP tool servers by text, category and tag."""
    return await uc.marketplace.search(actor, CatalogQuery(query, category, tag), PageRequest(limite, offset))


@tools.tool(GetMarketplaceTool)
async def get_tool_details(tool_id: str, *, uc: UseCases, actor: Principal) -> MarketplaceToolView:
    """One marketplace tool: what it does, how it runs, and the settings an install takes."""
    return await uc.marketplace.get_tool(actor, tool_id)
