"""Installation tools: list installations, install a tool, call an installed server's tool."""

from typing import Annotated, Any

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.jsonbounds import TOOL_ARGUMENTS
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.domain.tools import InstallScope
from tesserra_core.facade import UseCases
from tesserra_core.usecases import installations
from tesserra_core.usecases.installations import InstallRequest, ToolCall
from tesserra_core.usecases.tool_views import InstallationView, ToolCallView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(installations.ListInstallations)
async def list_installations(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[InstallationView]:
    return await uc.installations.list(actor, PageRequest(limite, offset))


@tools.tool(installations.InstallTool, tier=Tier.STANDARD)
async def install_tool(
    tool_id: str,
    config: Annotated[dict[str, Any] | None, Field(description="The tool's settings, by name.")] = None,
    scope: Annotated[InstallScope, Field(description="tenant (every member) or user (only you).")] = InstallScope.USER,
    *,
    uc: UseCases,
    actor: Principal,
) -> InstallationView:
    """Follow it with list_installations."""
    return await uc.installations.install(
        actor, tool_id, convert(InstallRequest, {"config": config or {}, "scope": scope})
    )


@tools.tool(installations.CallInstallationTool, tier=Tier.STANDARD)
async def call_installation_tool(
    installation_id: str,
    name: Annotated[str, Field(description="The tool's name, as the installation lists it.")],
    arguments: Annotated[
        dict[str, Any] | None,
        Field(
            description=f"The tool's arguments: at most {TOOL_ARGUMENTS.max_depth} levels deep, "
            f"{TOOL_ARGUMENTS.max_items} items in all and {TOOL_ARGUMENTS.max_bytes} bytes as JSON."
        ),
    ] = None,
    timeout_seconds: Annotated[float | None, Field(description="Seconds, at most 300 (default 30).")] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ToolCallView:
    """The same proxy as POST /api/installations/{id}/tools/call."""
    return await uc.installations.call_tool(
        actor, installation_id, ToolCall(name=name, arguments=arguments or {}, timeout=timeout_seconds)
    )
