"""Cold start (spawning ``tesserra serve`` to the first 200 on /health, on an empty then a migrated
database), the interpreter start and imports that bound it from below, and idle RSS; with
``breakdown``'s import profile of a real start and memory of the running server beside them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.breakdown import import_profile, print_import_profile, print_memory
from bench.harness import Serve, request, require, say, stop
from bench.results import BackendResult

TARGET_COLD_S = 2.0
TARGET_RSS_MB = 120.0


def cold_starts(serve: Serve, res: BackendResult) -> subprocess.Popen[bytes]:
    """Empty database (migrations + first owner), then twice on the migrated one; the last server
    stays up for the load. Between them, one start under ``-X importtime``, whose profile is printed."""
    proc, cold_empty = serve.start()
    stop(proc)
    print_import_profile(import_profile(serve))
    proc, cold_1 = serve.start()
    stop(proc)
    proc, cold_2 = serve.start()
    cold_migrated = min(cold_1, cold_2)
    say(f"  cold start to first 200 on /health: empty db {cold_empty:.2f} s; migrated {cold_1:.2f} s, {cold_2:.2f} s")
    res.check(f"cold start, empty db < {TARGET_COLD_S:g} s", cold_empty < TARGET_COLD_S, f"{cold_empty:.2f} s")
    res.check(f"cold start, migrated db < {TARGET_COLD_S:g} s", cold_migrated < TARGET_COLD_S, f"{cold_migrated:.2f} s")
    return proc


def import_seconds(code: str) -> float:
    """Interpreter start plus ``code``'s imports, best of two (a cold start cannot beat this)."""
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def print_import_floor() -> None:
    say()
    say("Interpreter start + imports alone (best of 2), the floor under any cold start:")
    # as ``tesserra serve`` imports them: with the cyclic collector off (see tesserra_http/cli.py)
    serve_imports = "import gc; gc.disable(); import tesserra_http.serving, tesserra_http.app, uvicorn, uvloop"
    say(f"  {serve_imports}: {import_seconds(serve_imports):.2f} s")
    mcp_sdk = "import mcp.client.session, mcp.server.mcpserver"
    say(f"  {mcp_sdk} (the MCP SDK alone, loaded on demand): {import_seconds(mcp_sdk):.2f} s")
    frameworks = "import litestar, sqlalchemy.ext.asyncio"
    say(f"  {frameworks}: {import_seconds(frameworks):.2f} s")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def idle_rss(pid: int) -> float:
    """VmRSS once the server has been idle for 2 s; its memory breakdown is printed."""
    time.sleep(2.0)
    rss = rss_mb(pid)
    print_memory(pid, f"{rss:.1f} MB idle")
    return rss


_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}


def note_mcp_rss(res: BackendResult, port: int, pid: int, api_key: dict[str, str]) -> None:
    """The MCP SDK loads on the first /mcp request: one ``initialize``, then the idle RSS again
    (information, after the targets' figures)."""
    before = rss_mb(pid)
    headers = {**api_key, "Accept": "application/json, text/event-stream"}
    status, body = request(port, "POST", "/mcp", headers=headers, body=_INITIALIZE)
    require(status == 200, f"/mcp initialize: {status} {body[:200]!r}")
    after = idle_rss(pid)
    res.notes.append(
        f"the first /mcp request (initialize) loads the MCP SDK: idle RSS {before:.1f} -> {after:.1f} MB (information)"
    )


def check_idle_rss(res: BackendResult, pid: int, rss_start: float) -> None:
    """Idle RSS after the load, beside the one measured after startup."""
    rss_after = idle_rss(pid)
    res.notes.append(
        f"idle RSS of tesserra serve: {rss_start:.1f} MB after startup, {rss_after:.1f} MB after the load "
        f"(peak VmHWM {rss_mb(pid, 'VmHWM'):.1f} MB, "
        f"{len(list(Path(f'/proc/{pid}/task').iterdir()))} threads)"
    )
    res.check(f"idle RSS after startup < {TARGET_RSS_MB:g} MB", rss_start < TARGET_RSS_MB, f"{rss_start:.1f} MB")
    res.check(f"idle RSS after load < {TARGET_RSS_MB:g} MB", rss_after < TARGET_RSS_MB, f"{rss_after:.1f} MB")
