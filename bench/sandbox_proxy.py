"""The runtime proxy's figures, on one echo sandbox (tests/servers/echo_sandbox.py) of the process runtime:

- a keep-alive GET of about 1 KiB (the echo's JSON of a request with 900 bytes of query, written
  whole: its chunked ``/download`` answers in pieces, which Nagle's algorithm delays by tens of ms on
  the direct path through pasta), one client, through the proxy and direct to the
  workload's port (read from the runtime's own record, ``workloads/*/workload.json``, as the proxy
  reads its stored state): added p50 under 2 ms;
- 32 concurrent clients each way: the proxy serves at least 40% of the direct requests/s;
- ``--stream-mib`` up (a chunked POST, its sha256 checked by the sandbox) and down, the server's RSS
  (its process and children) sampled every 50 ms: it grows under 32 MiB;
- a slow reader (64 KiB every 50 ms of a stream far larger) for 5 s: RSS grows under 32 MiB;
- ``--websockets`` idle WebSockets through the proxy, all open at once: under 200 MiB more RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import statistics
import subprocess
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from bench.cpu import busy_cpu, proc_cpu, workers_cpu
from bench.harness import HOST, Serve, say
from bench.load import Loader, choose_loader

ECHO = Path(__file__).resolve().parents[1] / "tests" / "servers" / "echo_sandbox.py"
HEADER = "X-Tesserra-Proxy-Token"
PYTHON_IMAGE = "tesserra-test/python-mcp:latest"
MIB = 1 << 20
ADDED_MS = 2.0
SHARE = 0.40
STREAM_GROWTH_MIB = 32.0
WEBSOCKETS_MIB = 200.0

ONE_KIB = "/?pad=" + "x" * 900
Verdict = tuple[bool, str]


def tree_rss(pid: int) -> int:
    """Resident bytes of the process and its descendants."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo += [int(child) for child in children]
    return total


async def peak_growth(pid: int, work: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    """What ``work`` returns, and the most the server's RSS grew above its start while it ran (MiB)."""
    start = peak = tree_rss(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        result = await work()
    finally:
        done.set()
        await sampler
    return result, (max(peak, tree_rss(pid)) - start) / MIB


def upstream(serve: Serve, sandbox_id: str, port: int) -> tuple[str, int]:
    """Where the workload answers, as its runtime recorded it (the state the proxy reads too): on
    Docker, the container's address on its tenant's network (no host port is published)."""
    owner = f"sandbox:{sandbox_id}"
    if serve.env.get("TESSERRA_RUNTIME") == "docker":
        found = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=tesserra.owner={owner}"], capture_output=True, text=True
        ).stdout.split()
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        shown = subprocess.run(["docker", "inspect", "-f", template, found[0]], capture_output=True, text=True)
        return shown.stdout.split()[0], port
    for record in (Path(serve.env["TESSERRA_DATA_DIR"]) / "workloads").glob("*/workload.json"):
        data = json.loads(record.read_text())
        if data["spec"]["owner"] == owner and data["state"] == "running":
            return HOST, int(data["ports"][str(port)])
    raise SystemExit(f"no running workload for sandbox {sandbox_id}")


def echo_template(runtime: str) -> dict[str, Any]:
    """The echo server as a sandbox: the file itself on the process runtime (the sandbox sees the
    program it runs); on Docker, its source compressed into the command for the Python test image."""
    if runtime != "docker":
        return {"name": "echo", "command": [str(ECHO)], "ports": [8000]}
    packed = base64.b64encode(zlib.compress(ECHO.read_bytes(), 9)).decode()
    code = f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"
    return {"name": "echo", "image": PYTHON_IMAGE, "command": ["python3", "-c", code], "ports": [8000]}


async def _open(serve: Serve, head: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, serve.port)
    writer.write(head.encode())
    return reader, writer


async def download(serve: Serve, path: str, token: str, size: int, progress: list[int]) -> int:
    reader, writer = await _open(
        serve,
        f"GET {path}/download?bytes={size} HTTP/1.1\r\nHost: {HOST}\r\n{HEADER}: {token}\r\nConnection: close\r\n\r\n",
    )
    try:
        while chunk := await reader.read(1 << 18):
            progress[0] += len(chunk)
    finally:
        writer.close()
    return progress[0]


async def upload(serve: Serve, path: str, token: str, size: int) -> dict[str, Any]:
    head = f"POST {path}/upload HTTP/1.1\r\nHost: {HOST}\r\n{HEADER}: {token}\r\nTransfer-Encoding: chunked\r\n"
    reader, writer = await _open(serve, head + "Connection: close\r\n\r\n")
    piece, digest = b"u" * MIB, hashlib.sha256()
    for _ in range(size // MIB):
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        digest.update(piece)
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    answer = await reader.read()
    writer.close()
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return {"ok": body["length"] == size and body["sha256"] == digest.hexdigest(), "length": body["length"]}


async def slow_reader(serve: Serve, path: str, token: str, seconds: float = 5.0) -> int:
    reader, writer = await _open(
        serve, f"GET {path}/download?bytes={64 << 30} HTTP/1.1\r\nHost: {HOST}\r\n{HEADER}: {token}\r\n\r\n"
    )
    received, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        received += len(await reader.read(1 << 16))
        await asyncio.sleep(0.05)
    writer.close()
    return received


async def idle_websockets(serve: Serve, path: str, token: str, n: int) -> int:
    from websockets.asyncio.client import connect

    url = f"ws://{HOST}:{serve.port}{path}/ws"
    sockets = []
    try:
        for start in range(0, n, 50):
            batch = [
                connect(url, additional_headers={HEADER: token}, open_timeout=60)
                for _ in range(start, min(n, start + 50))
            ]
            sockets += await asyncio.gather(*batch)
        await asyncio.sleep(2)
        await sockets[-1].send("still there")
        assert await sockets[-1].recv() == "still there"
        return len(sockets)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _loads(
    kind: str,
    connections: int,
    seconds: float,
    where: tuple[str, int],
    path: str,
    headers: dict[str, str],
    server_cpu: Callable[[], float],
) -> tuple[float, float, float, float]:
    """p50 (ms), requests/s, the server's CPU per request (ms: utime + stime of its processes over
    the run, robust where req/s drifts with a shared machine's load) and the whole machine's (ms:
    every process busy over the run: the load generator, the sandbox and its network, the server)."""
    cpu, machine = server_cpu(), busy_cpu()
    load = Loader(kind, connections, 0.5, seconds, host=where[0]).measure(where[1], path, headers)
    cpu, machine = server_cpu() - cpu, busy_cpu() - machine
    if load.bad_status or load.socket_errors:
        raise SystemExit(f"{path}: {load.bad_status} non-2xx, {load.socket_errors} socket errors")
    requests = max(load.requests, 1)
    return load.p50_ms, load.rps, cpu * 1000 / requests, machine * 1000 / requests


def latency_and_share(
    serve: Serve,
    server_cpu: Callable[[], float],
    direct: tuple[str, int],
    path: str,
    token: str,
    seconds: float,
    name: str,
) -> list[Verdict]:
    kind = choose_loader("auto")
    via = ((HOST, serve.port), f"{path}{ONE_KIB}", {HEADER: token})
    straight: tuple[tuple[str, int], str, dict[str, str]] = (direct, ONE_KIB, {})
    single: dict[str, list[float]] = {"proxy": [], "direct": []}
    many: dict[str, list[float]] = {"proxy": [], "direct": []}
    cpu: list[float] = []
    machine: dict[str, list[float]] = {"proxy": [], "direct": []}
    for _ in range(3):
        for way, (where, target, headers) in (("direct", straight), ("proxy", via)):
            single[way].append(_loads(kind, 1, seconds, where, target, headers, server_cpu)[0])
            _, served, per_request, whole = _loads(kind, 32, seconds, where, target, headers, server_cpu)
            many[way].append(served)
            machine[way].append(whole)
            if way == "proxy":
                cpu.append(per_request)
    p50 = {way: statistics.median(values) for way, values in single.items()}
    rps = {way: statistics.median(values) for way, values in many.items()}
    added, share = p50["proxy"] - p50["direct"], rps["proxy"] / rps["direct"]
    say(
        f"{name}: 1 KiB GET, one keep-alive client ({kind}): direct p50 {p50['direct']:.3f} ms,"
        f" proxy p50 {p50['proxy']:.3f} ms"
    )
    say(f"{name}: 32 clients: direct {rps['direct']:,.0f} req/s, proxy {rps['proxy']:,.0f} req/s")
    say(f"{name}: server CPU per proxied request at 32 clients: {statistics.median(cpu):.3f} ms (utime + stime)")
    say(
        f"{name}: the whole machine's CPU per request at 32 clients: direct {statistics.median(machine['direct']):.3f}"
        f" ms, through the proxy {statistics.median(machine['proxy']):.3f} ms (the server's part above)"
    )
    return [
        (added < ADDED_MS, f"{name}: proxy adds < {ADDED_MS:g} ms p50 to a keep-alive 1 KiB GET   {added:.3f} ms"),
        (share >= SHARE, f"{name}: proxy at 32 clients >= {SHARE:.0%} of the direct req/s   {share:.0%}"),
    ]


async def _stalls(work: Awaitable[Any], within: float) -> Any:
    try:
        return await asyncio.wait_for(work, within)
    except TimeoutError:
        return None


async def streams(serve: Serve, pid: int, path: str, token: str, args: argparse.Namespace, name: str) -> list[Verdict]:
    size, verdicts, within = args.stream_mib * MIB, [], 60.0
    progress = [0]
    t0 = time.perf_counter()
    got, grew = await peak_growth(pid, lambda: _stalls(download(serve, path, token, size, progress), within))
    if got is None:
        say(f"{name}: download {args.stream_mib} MiB through the proxy STALLED at {progress[0]:,} of {size:,} bytes")
        verdicts.append(
            (False, f"{name}: {args.stream_mib} MiB download streams through   stalled at {progress[0]:,} bytes")
        )
    else:
        rate = got / MIB / (time.perf_counter() - t0)
        say(f"{name}: download {args.stream_mib} MiB through the proxy: {rate:,.0f} MiB/s, server RSS +{grew:.1f} MiB")
        verdicts.append(
            (
                grew < STREAM_GROWTH_MIB,
                f"{name}: {args.stream_mib} MiB download, RSS grows < {STREAM_GROWTH_MIB:g} MiB   +{grew:.1f} MiB",
            )
        )
    t0 = time.perf_counter()
    sent, grew = await peak_growth(pid, lambda: _stalls(upload(serve, path, token, size), within))
    if sent is None:
        say(f"{name}: upload {args.stream_mib} MiB through the proxy STALLED")
        verdicts.append((False, f"{name}: {args.stream_mib} MiB upload streams through   stalled"))
    else:
        rate = size / MIB / (time.perf_counter() - t0)
        checked = "checked" if sent["ok"] else "WRONG"
        say(
            f"{name}: upload {args.stream_mib} MiB through the proxy: {rate:,.0f} MiB/s, sha256 {checked},"
            f" RSS +{grew:.1f} MiB"
        )
        verdicts.append(
            (
                sent["ok"] and grew < STREAM_GROWTH_MIB,
                f"{name}: {args.stream_mib} MiB upload, RSS grows < {STREAM_GROWTH_MIB:g} MiB   +{grew:.1f} MiB",
            )
        )
    read, grew = await peak_growth(pid, lambda: slow_reader(serve, path, token))
    say(f"{name}: slow reader, {read / MIB:.1f} MiB read in 5 s, server RSS +{grew:.1f} MiB")
    verdicts.append(
        (grew < STREAM_GROWTH_MIB, f"{name}: a slow reader, RSS grows < {STREAM_GROWTH_MIB:g} MiB   +{grew:.1f} MiB")
    )
    return verdicts


async def _echo_sandbox(
    client: httpx.AsyncClient, serve: Serve, bearer: dict[str, str], name: str
) -> tuple[str, str, str]:
    """A running echo sandbox answering through the proxy: its id, a day's proxy token, its proxy path."""
    template = echo_template(serve.env.get("TESSERRA_RUNTIME", "process"))
    created = await client.post("/api/sandboxes", json=template, headers=bearer)
    if created.status_code != 201 or created.json()["state"] != "running":
        raise SystemExit(f"{name}: the echo sandbox: {created.status_code} {created.text[:300]}")
    sid = created.json()["id"]
    minted = await client.get(f"/api/runtime/proxy-auth/{sid}", params={"ttl_seconds": 86400}, headers=bearer)
    token, path = minted.json()["token"], f"/api/runtime/proxy/{sid}"
    for _ in range(500):
        if (await client.get(f"{path}/", headers={HEADER: token})).status_code == 200:
            break
        await asyncio.sleep(0.02)
    return sid, token, path


async def measure_proxy_load(
    serve: Serve, pid: int, bearer: dict[str, str], args: argparse.Namespace, name: str
) -> list[Verdict]:
    """The 1 KiB GET load only, on a prefork server (``serve --workers N``): its CPU is the
    supervisor's and its workers'."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{serve.port}", timeout=60) as client:
        sid, token, path = await _echo_sandbox(client, serve, bearer, name)
        direct = upstream(serve, sid, 8000)
        verdicts = latency_and_share(serve, lambda: workers_cpu(pid), direct, path, token, args.seconds, name)
        await client.delete(f"/api/sandboxes/{sid}", headers=bearer)
    return verdicts


async def measure_proxy(
    serve: Serve, pid: int, bearer: dict[str, str], args: argparse.Namespace, name: str
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{serve.port}", timeout=60) as client:
        sid, token, path = await _echo_sandbox(client, serve, bearer, name)
        direct = upstream(serve, sid, 8000)
        verdicts += latency_and_share(serve, lambda: proc_cpu(pid), direct, path, token, args.seconds, name)
        verdicts += await streams(serve, pid, path, token, args, name)
        try:
            opened, grew = await peak_growth(pid, lambda: idle_websockets(serve, path, token, args.websockets))
        except (OSError, TimeoutError) as exc:
            say(f"{name}: idle WebSockets failed: {exc!r}")
            verdicts.append((False, f"{name}: {args.websockets} idle WebSockets   failed: {exc!r}"))
        else:
            say(f"{name}: {opened} idle WebSockets through the proxy, server RSS +{grew:.1f} MiB")
            verdict = f"{name}: {args.websockets} idle WebSockets cost < {WEBSOCKETS_MIB:g} MiB   +{grew:.1f} MiB"
            verdicts.append((grew < WEBSOCKETS_MIB, verdict))
        await client.delete(f"/api/sandboxes/{sid}", headers=bearer)
    return verdicts
