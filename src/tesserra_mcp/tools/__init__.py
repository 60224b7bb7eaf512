"""MCP tools, one module per family, each a ToolSet."""

from tesserra_mcp.registry import ToolSet
from tesserra_mcp.tools import (
    agents,
    billing,
    containers,
    conversations,
    domains,
    files,
    identity,
    infra_ssh,
    installations,
    mail,
    marketplace,
    members,
    projects,
    sandboxes,
    service,
    shared_tools,
    zones,
)

ALL: tuple[ToolSet, ...] = (
    identity.tools,
    members.tools,
    service.tools,
    shared_tools.tools,
    projects.tools,
    domains.tools,
    zones.tools,
    mail.tools,
    files.tools,
    billing.tools,
    marketplace.tools,
    installations.tools,
    containers.tools,
    sandboxes.tools,
    infra_ssh.tools,
    agents.tools,
    conversations.tools,
)
