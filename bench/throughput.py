"""Throughput under load, scenarios (a) to (d): req/s, p50 and p99, and the server's CPU per request,
judged as ratios to the ceiling (a) and, on PostgreSQL, to the raw asyncpg handler."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.comparisons import Comparison
from bench.cpu import cpu_since, cpu_snapshot
from bench.harness import request, require, say
from bench.load import Loader
from bench.profiling import start_profile, summarize_profile
from bench.results import BackendResult, Row
from bench.tenants import LIST_PATH

TARGET_RATIO_ME = 0.70  # (b), (c) vs (a)
TARGET_RATIO_LIST = 0.50  # (d) vs raw asyncpg, PostgreSQL

# Cheap enough to run interleaved, ``--rounds`` times, each keeping its median run.
INTERLEAVED = ("a", "h", "b", "c")


@dataclass(frozen=True)
class Scenario:
    tag: str
    label: str
    port: int
    pid: int
    path: str
    headers: dict[str, str]
    tesserra: bool = False  # profiled under --profile


def scenarios(
    port: int,
    pid: int,
    ceiling: Comparison,
    raw: Comparison | None,
    api_key: dict[str, str],
    bearer: dict[str, str],
    deep_offset: int,
) -> list[Scenario]:
    """(a), /health, (b), (c), (d) at offset 0 and deep; then the raw handler's (d), if there is one."""
    deep = LIST_PATH.format(deep_offset)
    plan = [
        Scenario("a", "(a) ceiling: bare Litestar, same JSON", ceiling.port, ceiling.pid, "/api/auth/me", {}),
        *tesserra_scenarios(port, pid, api_key, bearer, deep_offset),
    ]
    if raw is not None:
        plan += [
            Scenario("r0", "    raw asyncpg handler, offset 0", raw.port, raw.pid, LIST_PATH.format(0), {}),
            Scenario("rN", f"    raw asyncpg handler, offset {deep_offset:,}", raw.port, raw.pid, deep, {}),
        ]
    return plan


def tesserra_scenarios(
    port: int, pid: int, api_key: dict[str, str], bearer: dict[str, str], deep_offset: int
) -> list[Scenario]:
    """Tesserra's own: /health, (b), (c), (d) at offset 0 and deep."""
    deep = LIST_PATH.format(deep_offset)
    return [
        Scenario("h", "    Tesserra GET /health (no auth, no DB)", port, pid, "/health", {}, True),
        Scenario("b", "(b) GET /api/auth/me, X-API-Key", port, pid, "/api/auth/me", api_key, True),
        Scenario("c", "(c) GET /api/auth/me, Bearer JWT", port, pid, "/api/auth/me", bearer, True),
        Scenario("d0", "(d) GET /api/admin/tenants, offset 0", port, pid, LIST_PATH.format(0), bearer, True),
        Scenario("dN", f"(d) GET /api/admin/tenants, offset {deep_offset:,}", port, pid, deep, bearer, True),
    ]


def measure(res: BackendResult, loader: Loader, s: Scenario, profile: Path | None) -> Row:
    """One warmed-up, measured run of ``s``, printed as it ends; py-spy on Tesserra with --profile."""
    status, _ = request(s.port, "GET", s.path, headers=s.headers)
    require(status == 200, f"{s.label}: {status}")
    loader.warm(s.port, s.path, s.headers)
    raw = profile / f"{res.name}-{s.tag}.raw" if profile is not None and s.tesserra else None
    spy = None if raw is None else start_profile(s.pid, raw, loader.duration)
    before = cpu_snapshot(s.pid)
    load = loader.measure(s.port, s.path, s.headers)
    row = Row(s.label, load, cpu_since(before, s.pid))
    cpu_ms = row.cpu.server / max(1, load.requests) * 1000
    say(
        f"  {s.label:<46} {load.rps:8.0f} req/s  p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:6.2f} ms"
        f"  server CPU {cpu_ms:.3f} ms/req"
    )
    if spy is not None and raw is not None:
        spy.wait(timeout=loader.duration + 60)
        res.profiles[s.tag] = summarize_profile(raw)
    return row


def run_scenarios(res: BackendResult, loader: Loader, plan: list[Scenario], rounds: int, profile: Path | None) -> None:
    """The ratios to (a) are what the targets judge, and req/s on a shared 2-core machine drifts
    between runs: the cheap scenarios run interleaved, ``rounds`` times, and each keeps its median
    run. The database-bound ones run once."""
    cheap = [s for s in plan if s.tag in INTERLEAVED]
    runs: dict[str, list[Row]] = {s.tag: [] for s in cheap}
    for _ in range(rounds):
        for s in cheap:
            runs[s.tag].append(measure(res, loader, s, profile))
    for tag, rows in runs.items():
        res.rows[tag] = sorted(rows, key=lambda r: r.load.rps)[len(rows) // 2]
    for s in plan:
        if s.tag not in runs:
            res.rows[s.tag] = measure(res, loader, s, profile)


def check_throughput(res: BackendResult, deep_offset: int) -> None:
    a = res.rows["a"].load.rps
    for tag, what in (("b", "(b) API key"), ("c", "(c) JWT")):
        ratio = res.rows[tag].load.rps / a
        res.check(f"{what} req/s >= {TARGET_RATIO_ME:.0%} of (a)", ratio >= TARGET_RATIO_ME, f"{ratio:.0%}")
    if "r0" in res.rows:
        for mine, theirs, what in (("d0", "r0", "offset 0"), ("dN", "rN", f"offset {deep_offset:,}")):
            ratio = res.rows[mine].load.rps / res.rows[theirs].load.rps
            res.check(
                f"(d) {what} req/s >= {TARGET_RATIO_LIST:.0%} of raw asyncpg",
                ratio >= TARGET_RATIO_LIST,
                f"{ratio:.0%}",
            )
    check_responses(res)


def check_responses(res: BackendResult) -> None:
    served = sum(row.load.requests for row in res.rows.values())
    failed = sum(row.load.bad_status + row.load.socket_errors for row in res.rows.values())
    res.check("every loaded response was 2xx, no socket errors", failed == 0, f"{failed} of {served:,} failed")
    for row in res.rows.values():
        if row.load.bad_status or row.load.socket_errors:
            res.check(
                f"{row.label.strip()}: every response 200",
                False,
                f"{row.load.bad_status} non-2xx, {row.load.socket_errors} socket errors",
            )
