"""The test suite's own MCP server (stdio), for what mcp-server-time cannot do: crash, stall, show
what it received (a secret's digest, never the secret), list its working directory and read a file
there.

Run as ``python -m tests.servers.probe_server`` or through the launcher ``write_launcher`` makes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("tesserra-probe")


@server.tool()
async def echo(text: str) -> str:
    """Answer the text as given."""
    return text


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after ``seconds``."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
async def crash() -> str:
    """Exit the process at once, mid-call."""
    os._exit(3)


@server.tool()
async def env_digest(name: str) -> str:
    """SHA-256 of an environment variable's value ('unset' if it has none): proves a secret arrived
    without ever echoing it."""
    value = os.environ.get(name)
    return "unset" if value is None else hashlib.sha256(value.encode()).hexdigest()


@server.tool()
async def workspace() -> list[str]:
    """The file names in the working directory (the installation's workspace)."""
    return sorted(p.name for p in Path.cwd().iterdir() if p.is_file())


@server.tool()
async def read_file(name: str) -> str:
    """The text of a file in the working directory (the installation's workspace)."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError("a plain file name, please")
    return (Path.cwd() / name).read_text()


@server.tool()
async def pid() -> int:
    return os.getpid()


if __name__ == "__main__":
    server.run("stdio")
