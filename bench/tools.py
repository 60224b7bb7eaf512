"""Tool-platform benchmark: a tool call to an installed mcp-server-time, through the platform and direct.

Run by hand (see bench/README.md, "Tool calls"):

    .nox/tests/bin/python bench/tools.py [--calls 1000] [--clients 32] [--backend sqlite|postgres] [--no-docker]

It starts ``tesserra serve`` as a subprocess (process runtime, SQLite by default), mints an API key,
installs mcp-server-time through ``POST /api/marketplace/tools/{id}/install`` and times install ->
ready. Then, sequentially and warm, ``--calls`` calls of ``get_current_time`` each way:

  (a) direct: the mcp SDK's ``stdio_client`` + ``ClientSession`` to the same mcp-server-time binary;
  (b) REST: ``POST /api/installations/{id}/tools/call`` on one keep-alive connection (a raw client);
  (c) /mcp: ``call_installation_tool`` over streamable HTTP (the SDK's client, JSON responses);
  (d) /mcp baseline: ``whoami`` on the same session (what /mcp costs for any tool);
  (c') and (d'): the same two JSON-RPC requests on an MCP session of their own, written and read by
  the raw client of (b): the server's share of (c) and (d), the rest being the SDK client's own.

They run in interleaved batches. The platform's added p50 is (b) - (a) and (c) - (a), each judged
against the target (< 3 ms warm); (c) - (c') is the SDK's streamable-HTTP client's own cost and
(c') - (a) the server's share of /mcp. With Docker available (and the test image
``tesserra-test/python-mcp``), a second server on ``TESSERRA_RUNTIME=docker`` times install -> ready
in a container and its REST call p50.

Then ``--clients`` clients (32 by default) call at once, through REST and through /mcp, each with its
own timezone, and every answer is checked to be its caller's (``tool_concurrency.py``): throughput,
p99, misrouted and failed calls, with a PASS line per path for 0 of each. ``--backend postgres`` runs
the server on a fresh PostgreSQL database.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import postgres_database, say
from bench.tool_concurrency import concurrent_calls, report
from bench.tool_harness import (
    ARGS,
    PYTHON_MCP_IMAGE,
    RawHttp,
    RawMcp,
    Server,
    api_key,
    direct_session,
    install,
    line,
    mcp_session,
    pct,
    rest_calls,
    timed,
)

BATCH = 50


async def bench_runtime(work: Path, db_url: str, runtime: str, calls: int, clients: int = 0) -> dict[str, Any]:
    """Install twice (timed), then the call paths in interleaved batches of 50, so that load drifting
    on a shared machine weighs on every path alike; then, with ``clients``, the concurrent calls."""
    server = Server(work, db_url, runtime)
    try:
        await server.ready()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            key = await api_key(client)
            headers = {"X-API-Key": key}
            installation_id, cold = await install(client, headers)
            again, warm = await install(client, headers)  # the package is prepared once per version
            # Each runtime's server leaves the database as it found it: the next one installs within
            # the free plan's quota of 3 (on PostgreSQL both runtimes share one database).
            await client.delete(f"/api/installations/{again}", headers=headers)
            result: dict[str, Any] = {"install_first": cold, "install_again": warm}
            series: dict[str, list[float]] = {
                k: [] for k in ("direct", "rest", "mcp", "mcp_base", "mcp_raw", "base_raw")
            }
            arguments = {"installation_id": installation_id, "name": "get_current_time", "arguments": ARGS}
            raw = RawHttp(server.port)
            raw_mcp = RawMcp(RawHttp(server.port), key)
            async with direct_session() as direct, mcp_session(server.url, key) as mcp:
                await raw_mcp.initialize()
                paths = {
                    "direct": lambda n: timed(direct, "get_current_time", ARGS, n),
                    "rest": lambda n: rest_calls(raw, headers, installation_id, n),
                    "mcp": lambda n: timed(mcp, "call_installation_tool", arguments, n),
                    "mcp_base": lambda n: timed(mcp, "whoami", {}, n),
                    "mcp_raw": lambda n: raw_mcp.calls("call_installation_tool", arguments, n),
                    "base_raw": lambda n: raw_mcp.calls("whoami", {}, n),
                }
                if runtime != "process":
                    paths = {"rest": paths["rest"]}
                for run in paths.values():
                    await run(BATCH)  # warm-up
                for _ in range(max(1, calls // BATCH)):
                    for name, run in paths.items():
                        series[name] += await run(BATCH)
            raw.close()
            raw_mcp.close()
            result.update({k: v for k, v in series.items() if v})
            if clients:
                per_client = max(10, calls // clients)
                result["concurrent"] = await concurrent_calls(server.port, key, installation_id, clients, per_client)
            await client.delete(f"/api/installations/{installation_id}", headers=headers)
            return result
    finally:
        server.stop()


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "image", "inspect", PYTHON_MCP_IMAGE], capture_output=True, check=False)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Tool-call benchmark (see bench/README.md)")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients, each its own timezone")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test", help="where to CREATE DATABASE")
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tesserra-bench-tools-"))
    try:
        if args.backend == "postgres":
            with postgres_database(args.pg) as dsn:
                asyncio.run(bench(args, work, dsn.replace("postgresql://", "postgresql+asyncpg://", 1)))
        else:
            asyncio.run(bench(args, work, f"sqlite+aiosqlite:///{work / 'tesserra.db'}"))
    finally:
        if args.keep:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


async def bench(args: argparse.Namespace, work: Path, db_url: str) -> None:
    say(
        f"tool calls ({args.backend}): {args.calls} sequential calls of get_current_time each way,"
        f" in batches of {BATCH}"
    )
    proc = await bench_runtime(work, db_url, "process", args.calls, args.clients)
    direct = proc["direct"]
    say()
    first, again = proc["install_first"], proc["install_again"]
    say(f"install -> ready (process runtime)          first {first:.3f} s   again {again:.3f} s")
    say(line("(a) direct: mcp client over stdio", direct))
    say(line("(b) POST /api/installations/{id}/tools/call", proc["rest"]))
    say(line("(c) /mcp call_installation_tool", proc["mcp"]))
    say(line("(d) /mcp whoami (what /mcp costs any tool)", proc["mcp_base"]))
    say(line("(c') /mcp call_installation_tool, raw client", proc["mcp_raw"]))
    say(line("(d') /mcp whoami, raw client", proc["base_raw"]))
    base = pct(direct, 0.5)
    added_rest = pct(proc["rest"], 0.5) - base
    added_mcp = pct(proc["mcp"], 0.5) - base
    server_mcp = pct(proc["mcp_raw"], 0.5) - base
    client_mcp = pct(proc["mcp"], 0.5) - pct(proc["mcp_raw"], 0.5)
    say()
    say(f"platform added p50: REST {added_rest:.3f} ms; /mcp {added_mcp:.3f} ms")
    say(
        f"  /mcp split: server (c') - (a) {server_mcp:.3f} ms;"
        f" SDK streamable-HTTP client (c) - (c') {client_mcp:.3f} ms"
    )
    concurrent: list[tuple[bool, str]] = []
    if "concurrent" in proc:
        say()
        concurrent = report(proc["concurrent"], args.clients)
    if not args.no_docker and docker_ready():
        db = f"sqlite+aiosqlite:///{work / 'docker.db'}" if args.backend == "sqlite" else db_url
        dock = await bench_runtime(work, db, "docker", max(100, args.calls // 5))
        first, again = dock["install_first"], dock["install_again"]
        say(f"install -> ready (Docker runtime)           first {first:.3f} s   again {again:.3f} s")
        say(line("(e) REST tools/call, server in a container", dock["rest"]))
    else:
        say("Docker: skipped (no docker CLI/engine or no tesserra-test/python-mcp image)")
    say()
    say(f"{'PASS' if added_rest < 3 else 'MISS'}  platform added p50 over REST < 3 ms warm   {added_rest:.3f} ms")
    say(f"{'PASS' if server_mcp < 3 else 'MISS'}  platform added p50 over /mcp < 3 ms warm   {server_mcp:.3f} ms")
    say("      (raw HTTP client, measured as REST is; (c') - (a))")
    say(f"{'PASS' if added_mcp < 3 else 'MISS'}  the same, SDK streamable-HTTP client   {added_mcp:.3f} ms")
    say("      ((c) - (a): includes the SDK client's own cost, not the platform's)")
    for passed, text in concurrent:
        say(f"{'PASS' if passed else 'MISS'}  {text}")


if __name__ == "__main__":
    main()
