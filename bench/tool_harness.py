"""What the tool-call benchmarks share: a ``tesserra serve`` subprocess, an API key, an installation of
mcp-server-time, and the two lightest clients there are, one keep-alive HTTP/1.1 connection written and
read by hand (``RawHttp``) and an MCP session driven by hand over it (``RawMcp``)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import httpx2
from bench.harness import HOST, ahead_of_other_work, free_port
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

TIME = "io.github.modelcontextprotocol-time"
ARGS = {"timezone": "UTC"}
EMAIL = "bench@tesserra.local"
PASSWORD = "bench-password-1"
PYTHON_MCP_IMAGE = "tesserra-test/python-mcp:latest"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(label: str, values: list[float]) -> str:
    return f"{label:<44} p50 {pct(values, 0.5):7.3f} ms   p99 {pct(values, 0.99):7.3f} ms   (n={len(values)})"


def time_server() -> str:
    script = shutil.which("mcp-server-time", path=str(Path(sys.executable).parent)) or shutil.which("mcp-server-time")
    if script is None:
        raise SystemExit("mcp-server-time is not installed: pip install -e '.[test]'")
    return script


class Server:
    def __init__(self, work: Path, db_url: str, runtime: str) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = work / f"server-{runtime}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERRA_")}
        env.update(
            TESSERRA_DATABASE_URL=db_url,
            TESSERRA_DATA_DIR=str(work / f"data-{runtime}"),
            TESSERRA_SECRET_KEY=secrets.token_urlsafe(48),
            TESSERRA_BOOTSTRAP_EMAIL=EMAIL,
            TESSERRA_BOOTSTRAP_PASSWORD=PASSWORD,
            TESSERRA_RATE_LIMIT_SCALE="1000000",
            TESSERRA_HOST=HOST,
            TESSERRA_PORT=str(self.port),
            TESSERRA_RUNTIME=runtime,
            TESSERRA_TOOL_SCRIPT_DIRS=str(Path(time_server()).parent),
            TESSERRA_TOOL_PYTHON_IMAGE=PYTHON_MCP_IMAGE,
            TESSERRA_LOG_LEVEL="WARNING",
        )
        cmd = [str(Path(sys.executable).parent / "tesserra"), "serve"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=ahead_of_other_work,
            )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            for _ in range(1200):
                if self.proc.poll() is not None:
                    raise SystemExit(f"the server exited; see {self.log}")
                with suppress(httpx.HTTPError):
                    if (await client.get("/health")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise SystemExit("the server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


async def api_key(client: httpx.AsyncClient) -> str:
    login = await client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    body = {"name": "bench", "scopes": ["tools:read", "tools:write", "profile:read"], "tier": "standard"}
    minted = await client.post("/api/auth/keys/generate", json=body, headers=headers)
    minted.raise_for_status()
    return str(minted.json()["key"])


async def install(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, float]:
    start = time.perf_counter()
    response = await client.post(f"/api/marketplace/tools/{TIME}/install", json={}, headers=headers)
    if response.status_code != 202:
        raise SystemExit(f"install answered {response.status_code}: {response.text}")
    installation_id = response.json()["id"]
    while True:
        view = (await client.get(f"/api/installations/{installation_id}", headers=headers)).json()
        if view["status"] != "installing":
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    if view["status"] != "ready":
        raise SystemExit(f"install ended {view['status']}: {view['status_reason']}")
    return installation_id, elapsed


class RawHttp:
    """One keep-alive HTTP/1.1 connection, requests written and answers read by hand: the lightest
    client, so the figure is the server's time and not an HTTP library's (the direct path is the
    mcp SDK's client on stdio, itself lean)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status, _, answer = await self.exchange(path, body, headers)
        return status, answer

    async def exchange(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(HOST, self._port)
        assert self._reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await self._reader.readline()
        answer_headers: dict[str, str] = {}
        while (header := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        length = int(answer_headers.get("content-length", "0"))
        return int(status_line.split()[1]), answer_headers, await self._reader.readexactly(length)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def rest_calls(raw: RawHttp, headers: dict[str, str], installation_id: str, n: int) -> list[float]:
    path = f"/api/installations/{installation_id}/tools/call"
    body = json.dumps({"name": "get_current_time", "arguments": ARGS}).encode()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, answer = await raw.post(path, body, headers)
        out.append((time.perf_counter() - t0) * 1000)
        if status != 200 or json.loads(answer)["is_error"]:
            raise SystemExit(f"tools/call answered {status}: {answer[:300]!r}")
    return out


async def timed(session: ClientSession, name: str, arguments: dict[str, Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = await session.call_tool(name, arguments)
        out.append((time.perf_counter() - t0) * 1000)
        if result.is_error:
            raise SystemExit(f"{name} failed: {result.content}")
    return out


class RawMcp:
    """An MCP session on ``/mcp`` driven by hand over a ``RawHttp`` connection: initialize, then
    ``tools/call`` requests as JSON-RPC POSTs. What the server alone costs per call."""

    def __init__(self, raw: RawHttp, key: str) -> None:
        self._raw = raw
        self._headers = {"X-API-Key": key, "Accept": "application/json, text/event-stream"}
        self._next = 0

    async def _post(self, message: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return await self._raw.exchange("/mcp/", json.dumps(message).encode(), self._headers)

    async def initialize(self) -> None:
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        status, headers, answer = await self._post(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
        )
        if status != 200 or "mcp-session-id" not in headers:
            raise SystemExit(f"/mcp initialize answered {status}: {answer[:300]!r}")
        version = json.loads(answer)["result"]["protocolVersion"]
        self._headers |= {"mcp-session-id": headers["mcp-session-id"], "mcp-protocol-version": version}
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, name: str, arguments: dict[str, Any]) -> tuple[int, bytes]:
        """One ``tools/call``: the HTTP status and the JSON-RPC answer, unchecked."""
        self._next += 1
        message = {"jsonrpc": "2.0", "id": self._next, "method": "tools/call"}
        status, _, answer = await self._post(message | {"params": {"name": name, "arguments": arguments}})
        return status, answer

    async def calls(self, name: str, arguments: dict[str, Any], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            status, answer = await self.call(name, arguments)
            out.append((time.perf_counter() - t0) * 1000)
            if status != 200 or json.loads(answer)["result"].get("isError"):
                raise SystemExit(f"/mcp {name} answered {status}: {answer[:300]!r}")
        return out

    def close(self) -> None:
        self._raw.close()


@asynccontextmanager
async def direct_session() -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=time_server(), args=[])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def mcp_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session
