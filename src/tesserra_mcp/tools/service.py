"""Service tools."""

from tesserra_core.domain.identity import Principal
from tesserra_core.facade import UseCases
from tesserra_core.usecases import status
from tesserra_core.usecases.views import StatusView
from tesserra_mcp.registry import ToolSet

tools = ToolSet()


@tools.tool(status.ServiceStatus)
async def service_status(*, uc: UseCases, actor: Principal) -> StatusView:
    return await uc.service.status(actor)
