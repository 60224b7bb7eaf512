"""A small keep-alive HTTP/1.1 load generator, used when ``wrk`` is not installed.

Run it as its own process (``run.py`` does) so that the server keeps its own core:

    python bench/loadgen.py --port 8000 --path /api/auth/me -H "X-API-Key: ..." \
        --connections 32 --warmup 1 --duration 5

It prints one JSON line with the same fields ``wrk_report.lua`` prints. Every response's status
is checked: anything but 200 is counted in ``non200``. Bounded by time and by ``--max-requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _framing(head: bytes) -> tuple[int, bool]:
    """The Content-Length (0 if none) and whether the body is chunked, from a response head."""
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value)
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, int, int]:
    """One whole response off the connection: its head, status and Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = _framing(head)
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return head, status, length


async def _connection(
    host: str,
    port: int,
    request: bytes,
    measure_from: float,
    stop_at: float,
    budget: list[int],
    latencies: list[float],
    counters: dict[str, int],
    pause: float = 0.0,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while budget[0] > 0:
            start = clock()
            if start >= stop_at:
                return
            budget[0] -= 1
            writer.write(request)
            head, status, length = await _read_response(reader)
            end = clock()
            if start >= measure_from:
                latencies.append(end - start)
                counters["bytes"] += len(head) + length
                if status != 200:
                    counters["non200"] += 1
            if pause:
                await asyncio.sleep(pause)
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        counters["errors"] += 1
    finally:
        writer.close()


async def main(args: argparse.Namespace) -> dict[str, object]:
    lines = [f"GET {args.path} HTTP/1.1", f"Host: {args.host}:{args.port}", "Connection: keep-alive"]
    lines += args.header
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    now = time.perf_counter()
    measure_from = now + args.warmup
    stop_at = measure_from + args.duration
    latencies: list[float] = []
    counters = {"bytes": 0, "non200": 0, "errors": 0}
    budget = [args.max_requests]
    await asyncio.gather(
        *(
            _connection(
                args.host, args.port, request, measure_from, stop_at, budget, latencies, counters, args.pause_ms / 1000
            )
            for _ in range(args.connections)
        )
    )
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    latencies.sort()
    us = 1e6
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * us),
        "bytes": counters["bytes"],
        "p50_us": _percentile(latencies, 50) * us,
        "p90_us": _percentile(latencies, 90) * us,
        "p99_us": _percentile(latencies, 99) * us,
        "mean_us": (sum(latencies) / len(latencies) * us) if latencies else 0.0,
        "max_us": (latencies[-1] * us) if latencies else 0.0,
        "err_status": counters["non200"],
        "err_socket": counters["errors"],
        "budget_exhausted": budget[0] <= 0,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=500_000)
    parser.add_argument("--pause-ms", type=int, default=0, help="each connection's pause after an answer")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loadgen: loopback targets only")
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        result = runner.run(main(args))
    sys.stdout.write("LOADJSON " + json.dumps(result) + "\n")


if __name__ == "__main__":
    cli()
