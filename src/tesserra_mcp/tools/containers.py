"""Container tools: list and inspect the tenant's managed containers, and act on one."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import containers
from tesserra_core.usecases.tool_views import ContainerActionView, ContainerView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(containers.ListContainers)
async def list_containers(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[ContainerView]:
    return await uc.containers.list(actor, PageRequest(limite, offset))


@tools.tool(containers.GetContainer)
async def get_container(container_id: str, *, uc: UseCases, actor: Principal) -> ContainerView:
    return await uc.containers.get(actor, container_id)


@tools.tool(containers.ContainerLifecycle, tier=Tier.STANDARD)
async def container_action(
    container_id: str,
    action: Annotated[str, Field(description="start, stop, restart or remove")],
    *,
    uc: UseCases,
    actor: Principal,
) -> ContainerActionView:
    return await uc.containers.action(actor, container_id, action)
