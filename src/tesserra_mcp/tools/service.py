"""Service tools."""

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.facade import UseCases
from tesserra_core.usecases.views import StatusView
from tesserra_mcp.registry import ToolSet

tools = ToolSet()


@tools.tool(Scope.STATUS_READ)
async def service_status(*, uc: UseCases, actor: Principal) -> StatusView:
    """Service, database, Docker engine and storage, each ok, degraded or down."""
    return await uc.service.status(actor)
