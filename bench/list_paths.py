"""The list paths a tenant's tools live behind, GET /api/marketplace/tools and GET /api/installations,
under 64 connections: their tail (p99 at most 4x p50, on both backends) and the server CPU each
request costs (at least 1,500 req/s on one core, i.e. at most 0.667 ms of CPU per request)."""

from __future__ import annotations

from pathlib import Path

from bench.load import Loader
from bench.results import BackendResult
from bench.throughput import Scenario, measure

CONNECTIONS = 64
TAIL_RATIO = 4.0
PER_CORE = 1500.0
PATHS = (("m", "/api/marketplace/tools"), ("i", "/api/installations"))


def check_list_paths(
    res: BackendResult, loader: Loader, port: int, pid: int, bearer: dict[str, str], profile: Path | None
) -> None:
    wide = Loader(loader.kind, CONNECTIONS, loader.warmup, loader.duration)
    for tag, path in PATHS:
        label = f"    GET {path}, {CONNECTIONS} connections"
        row = measure(res, wide, Scenario(tag, label, port, pid, path, bearer, True), profile)
        res.rows[tag] = row
        load = row.load
        ratio = load.p99_ms / load.p50_ms if load.p50_ms else float("inf")
        res.check(
            f"GET {path}: p99 <= {TAIL_RATIO:g}x p50 at {CONNECTIONS} connections",
            ratio <= TAIL_RATIO,
            f"{ratio:.1f}x (p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms)",
        )
        cpu_ms = row.cpu.server / max(1, load.requests) * 1000
        per_core = 1000 / cpu_ms if cpu_ms else float("inf")
        res.check(
            f"GET {path}: >= {PER_CORE:,.0f} req/s per core of server CPU",
            per_core >= PER_CORE,
            f"{per_core:,.0f} req/s ({cpu_ms:.3f} ms CPU/req)",
        )
