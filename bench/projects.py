"""GET /api/projetos?limite=50 for one tenant among 10,000 tenants, on PostgreSQL, at two sizes:

* small: 1,000 projects in all (the tenant under test holds 100 of them);
* large: 1,000,000 projects in all (the tenant under test holds 20,000, so offset 10,000 is a real page).

For each size: p50 and p99 at offset 0 and at offset 10,000, measured sequentially on one
keep-alive connection (the request's own latency) and under load (``--connections`` connections).
Target: at offset 0, the large p50 is within 1.3x of the small p50.

    .nox/tests/bin/python bench/projects.py
    .nox/tests/bin/python bench/projects.py --large 200000 --requests 300     # a quicker look

Rows are seeded in SQL (generate_series), never through the API, after the server has migrated.
Project ids interleave tenants (as creation over time would), so the tenant's rows are spread over
the whole table, not stored together. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import proc_cpu
from bench.harness import (
    free_port,
    postgres_database,
    request,
    say,
    sequential_latencies,
    server_env,
    spawn,
    stop,
    stop_all,
    tesserra_cmd,
    wait_ready,
)
from bench.load import Load, Loader, choose_loader

TENANTS = 10_000
TARGET_RATIO = 1.3
EMAIL = "bench-owner@tesserra.test"
PASSWORD = "bench-password-1"
SECRET = "b" * 48


def page_path(offset: int) -> str:
    return f"/api/projetos?limite=50&offset={offset}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def seed(dsn: str, tenant_id: str, projects: int, in_tenant: int) -> None:
    """9,999 more tenants, then ``projects`` projects of which every ``projects // in_tenant``-th
    belongs to the tenant under test and the others go round the other tenants; then the counters."""
    import asyncpg

    every = projects // in_tenant
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO tenants (id, name, slug, status, plan, created_at, updated_at)
            SELECT '00bench' || lpad(g::text, 19, '0'), 'Bench tenant ' || g, 'bench-' || g, 'active', 'free',
                   now(), now()
            FROM generate_series(1, $1::int) AS g
            """,
            TENANTS - 1,
        )
        await conn.execute(
            """
            INSERT INTO projects (id, tenant_id, name, name_key, description, status, created_at, updated_at)
            SELECT '0p' || lpad(g::text, 24, '0'),
                   CASE WHEN g % $2::int = 0 THEN $3::text
                        ELSE '00bench' || lpad((g % ($4::int - 1) + 1)::text, 19, '0') END,
                   'Project ' || g, 'project ' || g, 'seeded', 'active',
                   timestamptz '2026-01-01' + g * interval '1 millisecond',
                   timestamptz '2026-01-01' + g * interval '1 millisecond'
            FROM generate_series(1, $1::int) AS g
            """,
            projects,
            every,
            tenant_id,
            TENANTS,
        )
        await conn.execute(
            "INSERT INTO project_counts (tenant_id, projects) "
            "SELECT tenant_id, count(*) FROM projects GROUP BY tenant_id"
        )
        await conn.execute("VACUUM ANALYZE tenants")
        await conn.execute("VACUUM ANALYZE projects")
        await conn.execute("VACUUM ANALYZE project_counts")
    finally:
        await conn.close()


async def explain(dsn: str, tenant_id: str, offset: int) -> str:
    """EXPLAIN ANALYZE of the statements ``SqlProjects.list`` really issues for this page (captured
    from SQLAlchemy, not retyped)."""
    import asyncpg
    from sqlalchemy import event

    from tesserra_adapters.sql.engine import open_engine
    from tesserra_adapters.sql.projects import SqlProjects
    from tesserra_core.domain.paging import PageRequest
    from tesserra_core.domain.projects import ProjectFilter

    engine = open_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    seen: list[tuple[str, tuple[object, ...]]] = []

    def record(_c: object, _cur: object, statement: str, parameters: tuple[object, ...], *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.connect() as conn:
            await SqlProjects(conn).list(tenant_id, PageRequest(50, offset), ProjectFilter())
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(dsn)
    lines = []
    try:
        for statement, parameters in seen:
            lines.append("    " + " ".join(statement.split()))
            for row in await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", *parameters):
                lines.append("      " + row[0])
    finally:
        await conn.close()
    return "\n".join(lines)


@dataclass
class Size:
    label: str
    projects: int
    in_tenant: int
    port: int = 0
    pid: int = 0
    headers: dict[str, str] | None = None
    seed_s: float = 0.0
    dsn: str = ""
    tenant_id: str = ""


def start_size(size: Size, admin_pg: str, stack: contextlib.ExitStack, deep_offset: int) -> None:
    """A fresh database and a ``tesserra serve`` on it, seeded; both live until ``stack`` closes."""
    dsn = stack.enter_context(postgres_database(admin_pg))
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tesserra-bench-projects-")))
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    size.port = free_port()
    proc = spawn([*tesserra_cmd(), "serve"], server_env(url, tmp, size.port, EMAIL, PASSWORD, SECRET), tmp / "log")
    stack.callback(stop, proc)
    size.pid = proc.pid
    wait_ready(size.port, "/health", proc)
    status, body = request(size.port, "POST", "/api/auth/login", body={"email": EMAIL, "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"login answered {status}: {body!r}")
    size.headers = {"Authorization": f"Bearer {json.loads(body)['access_token']}"}
    _, body = request(size.port, "GET", "/api/auth/me", headers=size.headers)
    tenant_id = json.loads(body)["tenant"]["id"]
    say(f"  {size.label}: seeding {TENANTS:,} tenants, {size.projects:,} projects ({size.in_tenant:,} in the tenant)")
    t0 = time.perf_counter()
    asyncio.run(seed(dsn, tenant_id, size.projects, size.in_tenant))
    size.seed_s = time.perf_counter() - t0
    say(f"  {size.label}: seeded in {size.seed_s:.1f} s")
    size.dsn, size.tenant_id = dsn, tenant_id


def check_page(size: Size, offset: int) -> None:
    path = page_path(offset)
    status, body = request(size.port, "GET", path, headers=size.headers)
    page = json.loads(body)
    expected = max(0, min(50, size.in_tenant - offset))
    if status != 200 or page["total"] != size.in_tenant or len(page["items"]) != expected:
        raise RuntimeError(f"{size.label} {path}: {status}, total {page.get('total')}, {len(page.get('items', []))}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="GET /api/projetos at 1,000 and 1,000,000 projects (PostgreSQL)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--small", type=int, default=1_000, help="projects in all, small size")
    parser.add_argument("--small-tenant", type=int, default=100, help="of which the tenant under test holds")
    parser.add_argument("--large", type=int, default=1_000_000, help="projects in all, large size")
    parser.add_argument("--large-tenant", type=int, default=20_000, help="of which the tenant under test holds")
    parser.add_argument("--deep-offset", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per size, offset and round")
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=10, help="alternating small/large; each keeps its median")
    parser.add_argument("--load-every", type=int, default=3, help="the loaded runs happen every Nth round")
    return parser.parse_args()


@dataclass
class Samples:
    """Per (size label, offset): each round's sequential (p50, p99, server CPU ms per request), and
    each loaded run."""

    seq: dict[tuple[str, int], list[tuple[float, float, float]]] = field(default_factory=dict)
    loaded: dict[tuple[str, int], list[Load]] = field(default_factory=dict)

    def sequential(self, size: Size, offset: int, requests: int) -> None:
        cpu_before = proc_cpu(size.pid)
        ms = sequential_latencies(size.port, page_path(offset), size.headers or {}, requests)
        cpu_ms = (proc_cpu(size.pid) - cpu_before) * 1000 / requests
        self.seq.setdefault((size.label, offset), []).append((statistics.median(ms), percentile(ms, 0.99), cpu_ms))

    def under_load(self, size: Size, offset: int, loader: Loader) -> None:
        path = page_path(offset)
        loader.warm(size.port, path, size.headers or {})
        load = loader.measure(size.port, path, size.headers or {})
        if load.bad_status or load.socket_errors:
            raise RuntimeError(f"{size.label} {path} under load: {load}")
        self.loaded.setdefault((size.label, offset), []).append(load)

    def p(self, label: str, offset: int, i: int) -> float:
        return statistics.median(v[i] for v in self.seq[(label, offset)])

    def lo(self, label: str, offset: int, attr: str) -> float:
        values: list[float] = [getattr(v, attr) for v in self.loaded[(label, offset)]]
        return statistics.median(values)


def run_rounds(args: argparse.Namespace, loader: Loader, small: Size, large: Size, samples: Samples) -> None:
    """Alternating rounds (small, large, then large, small, ...); a loaded run every Nth round."""
    offsets = [0, args.deep_offset]
    for r in range(args.rounds):
        for size in (small, large) if r % 2 == 0 else (large, small):
            for offset in offsets:
                samples.sequential(size, offset, args.requests)
                if r % args.load_every == 0:
                    samples.under_load(size, offset, loader)
        say(f"  round {r + 1}/{args.rounds} done")


def report(args: argparse.Namespace, small: Size, large: Size, samples: Samples, plans: dict[int, str]) -> None:
    p, lo = samples.p, samples.lo
    say()
    say("median over rounds")
    say(f"{'':<36}{'small':>20}{'large':>20}{'large/small':>14}")
    say(
        f"{'projects (in the tenant)':<36}{f'{small.projects:,} ({small.in_tenant:,})':>20}"
        f"{f'{large.projects:,} ({large.in_tenant:,})':>20}"
    )
    for offset in (0, args.deep_offset):
        rows = [
            ("sequential p50 (ms)", p("small", offset, 0), p("large", offset, 0)),
            ("sequential p99 (ms)", p("small", offset, 1), p("large", offset, 1)),
            ("server CPU per request (ms)", p("small", offset, 2), p("large", offset, 2)),
            (f"{args.connections} conns p50 (ms)", lo("small", offset, "p50_ms"), lo("large", offset, "p50_ms")),
            (f"{args.connections} conns p99 (ms)", lo("small", offset, "p99_ms"), lo("large", offset, "p99_ms")),
            (f"{args.connections} conns req/s", lo("small", offset, "rps"), lo("large", offset, "rps")),
        ]
        for name, a, b in rows:
            say(f"{f'offset {offset:,} {name}':<36}{a:>20.2f}{b:>20.2f}{b / a:>14.2f}")
    say()
    for offset, plan in plans.items():
        say(f"large, offset {offset:,}: the statements SqlProjects.list issues, with EXPLAIN ANALYZE after the runs")
        say(plan)
    ratio = p("large", 0, 0) / p("small", 0, 0)
    loaded_ratio = lo("large", 0, "p50_ms") / lo("small", 0, "p50_ms")
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    say()
    say(
        f"{verdict}  offset 0 p50, large / small: {ratio:.2f} sequential (target <= {TARGET_RATIO}); "
        f"{loaded_ratio:.2f} with {args.connections} connections"
    )


def main() -> None:
    args = parse_args()
    loader = Loader(choose_loader(args.loader), args.connections, args.warmup, args.duration)
    offsets = [0, args.deep_offset]
    small = Size("small", args.small, args.small_tenant)
    large = Size("large", args.large, args.large_tenant)
    say(f"GET /api/projetos?limite=50 among {TENANTS:,} tenants, PostgreSQL; load: {loader.describe()}")
    say(
        f"{args.rounds} alternating rounds of {args.requests} sequential requests per size and offset "
        f"(load every {args.load_every} rounds); medians over rounds"
    )
    samples = Samples()
    try:
        with contextlib.ExitStack() as stack:
            for size in (small, large):
                start_size(size, args.pg, stack, args.deep_offset)
                for offset in offsets:
                    check_page(size, offset)
                    sequential_latencies(size.port, page_path(offset), size.headers or {}, 100)  # warm caches, pool
            run_rounds(args, loader, small, large, samples)
            plans = {offset: asyncio.run(explain(large.dsn, large.tenant_id, offset)) for offset in offsets}
    finally:
        stop_all()
    report(args, small, large, samples, plans)


if __name__ == "__main__":
    main()
