"""The ``ToolConnector`` the composition root wires: MCP client sessions to installed tool servers.

The session itself lives in ``tool_client``, which imports the MCP SDK (and with it pydantic,
starlette and the SDK's server half: ~25 MB and ~0.3 s). It is imported on the first connection,
not at start-up, so a server that never calls a tool never loads the SDK.
"""

from __future__ import annotations

from tesserra_core.ports.runtime import StdioChannel
from tesserra_core.ports.tools import ToolSession


class McpToolConnector:
    async def connect(self, channel: StdioChannel, *, seconds: float) -> ToolSession:
        from tesserra_adapters.tool_client import McpToolSession

        session = McpToolSession(channel)
        await session.start(seconds)
        return session
