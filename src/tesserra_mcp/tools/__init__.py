"""MCP tools, one module per family, each a ToolSet."""

from tesserra_mcp.registry import ToolSet
from tesserra_mcp.tools import domains, identity, projects, service

ALL: tuple[ToolSet, ...] = (identity.tools, service.tools, projects.tools, domains.tools)
