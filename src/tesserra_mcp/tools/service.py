"""Service tools."""

from tesserra_core.domain.identity import Principal
from tesserra_core.facade import UseCases
from tesserra_core.usecases.status import ServiceStatus
from tesserra_core.usecases.views import StatusView
from tesserra_mcp.registry import ToolSet

tools = ToolSet()


@tools.tool(ServiceStatus)
async def service_status(*, uc: UseCases, actor: Principal) -> StatusView:
    """Service, database, Docker engine and storage, each ok, degraded or down."""
    return await uc.service.status(actor)
