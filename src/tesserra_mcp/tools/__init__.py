"""MCP tools, one module per family, each a ToolSet."""

from tesserra_mcp.registry import ToolSet
from tesserra_mcp.tools import containers, identity, installations, marketplace, service, shared_tools

ALL: tuple[ToolSet, ...] = (
    identity.tools,
    service.tools,
    shared_tools.tools,
    marketplace.tools,
    installations.tools,
    containers.tools,
)
