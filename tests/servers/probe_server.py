"""The test suite's own MCP server (stdio), for what mcp-server-time cannot do: crash, stall, show
what it received (a secret's digest, never the secret; how many of the lines that reached its stdin
hold a marker; the trace context a call carried in its ``_meta``), list its working directory, read a
file there and delete one (a tool annotated destructive).

Run as ``python -m tests.servers.probe_server`` or through the launcher ``write_launcher`` makes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.types import ToolAnnotations

server: MCPServer = MCPServer("tesserra-probe")
RECEIVED: list[str] = []
"""Every JSON-RPC line that reached stdin, before the SDK parsed it (whether it could or not)."""


class _RecordingStdin:
    def __init__(self, stream: io.TextIOBase) -> None:
        self._stream = stream

    def readline(self, *args: Any) -> str:
        line = self._stream.readline(*args)
        if line.strip():
            RECEIVED.append(line)
        return line


@server.tool()
async def received(marker: str) -> int:
    """How many lines that reached stdin hold ``marker`` (this call's own line among them)."""
    return sum(marker in line for line in RECEIVED)


@server.tool()
async def trace_context(marker: str) -> str:
    """The W3C trace context (``traceparent``, ``tracestate``) in ``params._meta`` of the last request
    that reached stdin holding ``marker``, as a JSON object (empty if it carried none)."""
    for line in reversed(RECEIVED):
        if marker in line:
            meta = json.loads(line).get("params", {}).get("_meta") or {}
            return json.dumps({key: meta[key] for key in ("traceparent", "tracestate") if key in meta})
    return "{}"


@server.tool()
async def keep(value: Any) -> str:
    """Accept any JSON value (a target for nested arguments)."""
    return type(value).__name__


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


@server.tool(annotations=ToolAnnotations(destructive_hint=True, read_only_hint=False))
async def forget(name: str) -> str:
    """Delete a file in the working directory (annotated destructive: an agent's call waits for approval)."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError("a plain file name, please")
    (Path.cwd() / name).unlink()
    return f"forgot {name}"


INSTANCE = int.from_bytes(os.urandom(4), "big")
"""Who answers: drawn at start (a sandboxed server's pid is the same in every pid namespace)."""


@server.tool()
async def pid() -> int:
    return INSTANCE


async def main() -> None:
    stdin = _RecordingStdin(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    async with stdio_server(stdin=anyio.wrap_file(stdin)) as (read, write):  # type: ignore[arg-type]
        await server._lowlevel_server.run(read, write, server._lowlevel_server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
