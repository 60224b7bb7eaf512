"""The MCP driver: Tesserra's tools over the use-case facade, over streamable HTTP or stdio.

Public surface: ``McpEndpoint`` (an ASGI app to mount, with its lifespan) and ``run_stdio``.
"""

from tesserra_mcp.server import McpEndpoint, run_stdio

__all__ = ["McpEndpoint", "run_stdio"]
