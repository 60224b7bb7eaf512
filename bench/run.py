"""Tesserra's benchmark: run by hand, prints its figures and a PASS/MISS line per target.

    .nox/tests/bin/python bench/run.py                 # PostgreSQL and SQLite, ~3-5 minutes
    .nox/tests/bin/python bench/run.py --backends sqlite --only footprint   # ~1 minute
    .nox/tests/bin/python bench/run.py --metrics ...   # the same, with /metrics on (every request measured)
    (any Python with Tesserra installed; PYTHONPATH=src to measure the working tree: bench/README.md)

Every server is a real subprocess (``tesserra serve``, and the two comparison apps in
``servers.py``), loaded from another process (``wrk`` if installed, else ``loadgen.py``) over
loopback with keep-alive connections for a fixed time. See bench/README.md.

What each part measures lives in its own module: ``footprint`` (cold start, idle RSS), ``breakdown``
(import profile of a real start, memory by kind and by group of imports),
``credentials`` (login, key and JWT verification, argon2), ``throughput`` (scenarios (a) to (d)),
with ``comparisons`` (the ceiling and raw asyncpg servers), ``tenants`` (the 100,000 rows of (d)),
``load``, ``cpu``, ``profiling`` and ``results`` under them; this file runs them per backend.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.breakdown import print_import_rss
from bench.comparisons import start_ceiling, start_rawpg
from bench.credentials import check_credentials, mint
from bench.footprint import check_idle_rss, cold_starts, idle_rss, note_mcp_rss, print_import_floor
from bench.harness import RATE_SCALE, Serve, postgres_database, say, stop_all
from bench.list_paths import check_list_paths
from bench.load import Loader, choose_loader
from bench.profiling import py_spy
from bench.results import BackendResult, print_table, print_targets
from bench.tenants import TenantRows, seed_postgres, seed_sqlite, seed_tenants
from bench.throughput import check_responses, check_throughput, measure, run_scenarios, scenarios, tesserra_scenarios


@dataclass(frozen=True)
class Setup:
    """What every backend's run shares."""

    work: Path
    loader: Loader
    data: TenantRows
    deep_offset: int
    profile: Path | None
    rounds: int
    footprint_only: bool
    metrics: bool


def bench_backend(name: str, db_url: str, seed: Callable[[], None], raw_dsn: str | None, setup: Setup) -> BackendResult:
    res = BackendResult(name)
    serve = Serve.configure(name, db_url, setup.work, metrics=setup.metrics)
    proc = cold_starts(serve, res)
    rss_start = idle_rss(proc.pid)
    minted = mint(serve)
    seed_tenants(serve.port, minted.bearer, setup.data, seed)
    if setup.footprint_only:  # the same load on Tesserra, once, and nothing else
        for s in tesserra_scenarios(serve.port, proc.pid, minted.api_key, minted.bearer, setup.deep_offset):
            res.rows[s.tag] = measure(res, setup.loader, s, setup.profile)
        check_list_paths(res, setup.loader, serve.port, proc.pid, minted.bearer, setup.profile)
    else:
        ceiling = start_ceiling(name, setup.work, minted.me_body)
        raw = None
        if raw_dsn is not None:
            raw = start_rawpg(name, setup.work, db_url, raw_dsn, setup.deep_offset, serve.port, minted.bearer)
        plan = scenarios(serve.port, proc.pid, ceiling, raw, minted.api_key, minted.bearer, setup.deep_offset)
        run_scenarios(res, setup.loader, plan, setup.rounds, setup.profile)
        check_list_paths(res, setup.loader, serve.port, proc.pid, minted.bearer, setup.profile)
        check_credentials(res, serve, minted)
    check_idle_rss(res, proc.pid, rss_start)
    note_mcp_rss(res, serve.port, proc.pid, minted.api_key)
    if setup.footprint_only:
        check_responses(res)
    else:
        check_throughput(res, setup.deep_offset)
    stop_all()
    return res


def bench_postgres(args: argparse.Namespace, setup: Setup) -> BackendResult:
    say(f"PostgreSQL: fresh database on {args.pg.rsplit('/', 1)[0]}")
    with postgres_database(args.pg) as dsn:
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        return bench_backend("PostgreSQL", url, lambda: asyncio.run(seed_postgres(dsn, setup.data)), dsn, setup)


def bench_sqlite(args: argparse.Namespace, setup: Setup) -> BackendResult:
    db = setup.work / "bench.db"
    say(f"SQLite: {db}")
    return bench_backend("SQLite", f"sqlite+aiosqlite:///{db}", partial(seed_sqlite, db, setup.data), None, setup)


BACKENDS: dict[str, Callable[[argparse.Namespace, Setup], BackendResult]] = {
    "postgres": bench_postgres,
    "sqlite": bench_sqlite,
}


def run_backends(args: argparse.Namespace, work: Path, loader: Loader) -> list[BackendResult]:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    profile = work if args.profile else None
    footprint_only = args.only == "footprint"
    rows = TenantRows.make(args.tenants)
    setup = Setup(work, loader, rows, args.deep_offset, profile, args.rounds, footprint_only, args.metrics)
    results = []
    for backend in backends:
        say()
        if backend not in BACKENDS:
            raise SystemExit(f"unknown backend {backend!r}")
        results.append(BACKENDS[backend](args, setup))
    return results


def print_header(loader: Loader, work: Path) -> None:
    from importlib.metadata import version

    say(f"Tesserra benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        + ", ".join(
            f"{p} {version(p)}"
            for p in ("litestar", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg", "aiosqlite", "msgspec")
        )
    )
    say(f"load: {loader.describe()}; TESSERRA_RATE_LIMIT_SCALE={RATE_SCALE}")
    say(f"work dir: {work}; load average before: {Path('/proc/loadavg').read_text().split()[0]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Tesserra benchmark (see bench/README.md)")
    parser.add_argument("--backends", default="postgres,sqlite", help="comma-separated: postgres, sqlite")
    parser.add_argument(
        "--pg",
        default=os.environ.get("TESSERRA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an existing PostgreSQL database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved runs of (a), /health, (b), (c); each keeps its median"
    )
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--deep-offset", type=int, default=50_000)
    parser.add_argument(
        "--only",
        choices=["all", "footprint"],
        default="all",
        help="footprint: cold start, imports, memory, and the RSS after Tesserra's own load run once",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, captured bodies)")
    parser.add_argument(
        "--metrics", action="store_true", help="serve with TESSERRA_METRICS_TOKEN set: every request is measured"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run py-spy (pip install py-spy) on tesserra serve during (b), (c), (d); slows it a little",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.profile and py_spy() is None:
        raise SystemExit(f"--profile needs py-spy: {sys.executable} -m pip install py-spy")
    loader_kind = choose_loader(args.loader)
    if loader_kind == "python" and args.loader == "auto":
        say("note: wrk not found, using bench/loadgen.py (apt-get install -y wrk for lighter load generation)")
    loader = Loader(loader_kind, args.connections, args.warmup, args.duration)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="tesserra-bench-"))
    started = time.perf_counter()
    try:
        print_header(loader, work)
        results = run_backends(args, work, loader)
        print_import_floor()
        print_import_rss()
        for res in results:
            print_table(res)
        misses = print_targets(results)
        say()
        say(f"{misses} target(s) missed; bench took {time.perf_counter() - started:.0f} s")
    finally:
        stop_all()
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
