"""The MCP driver: Tesserra's tools over the use-case facade, over streamable HTTP or stdio.

Public surface: ``McpEndpoint`` (an ASGI app to mount, with its lifespan) and ``run_stdio``.
Neither imports the MCP SDK until it is used.
"""

from __future__ import annotations

from tesserra_core.facade import UseCases
from tesserra_mcp.endpoint import McpEndpoint

__all__ = ["McpEndpoint", "run_stdio"]


async def run_stdio(uc: UseCases, api_key: str, acting_user_id: str | None = None) -> None:
    """Serve MCP on stdin/stdout as the holder of ``api_key`` (checked now, and on every call), acting for
    ``acting_user_id`` (X-User-Id's value over HTTP) if given."""
    from tesserra_mcp.server import run_stdio as serve

    await serve(uc, api_key, acting_user_id)
