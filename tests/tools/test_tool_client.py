"""The MCP client adapter against a real tool server (the probe, a child process over its stdio):
arguments the SDK cannot encode are a core error and leave the session (and the server) alone.

The core refuses such arguments before they get here (``check_json``); this is the adapter's own
guarantee, for whatever still reaches it."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from tesserra_adapters.tool_client import McpToolSession
from tesserra_adapters.tool_connector import McpToolConnector
from tesserra_core.errors import ValidationFailed
from tests.servers.launchers import SERVERS


class _ProcessChannel:
    """A child's stdin and stdout as a ``StdioChannel``."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        await self.process.stdin.drain()

    async def receive(self) -> bytes:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise EOFError
        return line.rstrip(b"\n")

    async def aclose(self) -> None:
        pass


@pytest.fixture
async def probe() -> AsyncIterator[McpToolSession]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVERS / "probe_server.py"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    session = await McpToolConnector().connect(_ProcessChannel(process), seconds=20)
    assert isinstance(session, McpToolSession)
    try:
        yield session
    finally:
        await session.aclose()
        process.kill()
        await process.wait()


def nested(depth: int, marker: str) -> dict[str, object]:
    value: object = marker
    for _ in range(depth - 1):
        value = [value]
    return {"value": value}


async def _text(session: McpToolSession, name: str, arguments: dict[str, object]) -> str:
    result = await session.call_tool(name, arguments, seconds=10)
    assert not result.is_error, result
    return str(result.content[0]["text"])


@pytest.mark.parametrize("depth", [255, 256, 300, 999])
async def test_unencodable_arguments_are_a_core_error_and_the_session_lives_on(
    probe: McpToolSession, depth: int
) -> None:
    pid = await _text(probe, "pid", {})
    marker = f"poison-{uuid.uuid4().hex}"
    with pytest.raises(ValidationFailed) as refused:
        await probe.call_tool("keep", nested(depth, marker), seconds=10)
    assert refused.value.code == "invalid_arguments"
    assert not probe.closed
    assert await _text(probe, "pid", {}) == pid
    assert json.loads(await _text(probe, "received", {"marker": marker})) == 1  # that question alone
