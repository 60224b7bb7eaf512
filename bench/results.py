"""One backend's figures (the measured rows, notes, py-spy summaries and PASS/MISS checks) and how
they are printed."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cpu import Cpu
from bench.harness import say
from bench.load import Load


@dataclass
class Row:
    label: str
    load: Load
    cpu: Cpu


@dataclass
class BackendResult:
    name: str
    rows: dict[str, Row] = field(default_factory=dict)
    profiles: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.checks.append((f"[{self.name}] {what}", ok, detail))


def _server_ms(row: Row) -> float:
    return row.cpu.server / max(1, row.load.requests) * 1000


def print_table(res: BackendResult) -> None:
    say()
    say(f"== {res.name} " + "=" * (112 - len(res.name)))
    if "a" in res.rows:  # not under --only footprint, which loads Tesserra alone
        _print_loads(res)
        if "r0" in res.rows:
            _print_raw_comparison(res)
        say()
        _print_cpu(res)
    for note in res.notes:
        say(f"- {note}")
    for tag, lines in res.profiles.items():
        say()
        say(f"py-spy --gil during {res.rows[tag].label.strip()}:")
        for line in lines:
            say("  " + line)


def _print_loads(res: BackendResult) -> None:
    a = res.rows["a"].load
    say(
        f"{'scenario':<48}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s÷a':>9}{'p50÷a':>8}{'p99÷a':>8}"
        f"{'requests':>10}{'non-2xx':>9}"
    )
    for row in res.rows.values():
        ld = row.load
        say(
            f"{row.label:<48}{ld.rps:>9.0f}{ld.p50_ms:>9.2f}{ld.p99_ms:>9.2f}"
            f"{ld.rps / a.rps:>9.2f}{ld.p50_ms / a.p50_ms:>8.2f}{ld.p99_ms / a.p99_ms:>8.2f}"
            f"{ld.requests:>10}{ld.bad_status + ld.socket_errors:>9}"
        )


def _print_raw_comparison(res: BackendResult) -> None:
    for mine, theirs in (("d0", "r0"), ("dN", "rN")):
        m, t = res.rows[mine].load, res.rows[theirs].load
        mc, tc = res.rows[mine].cpu, res.rows[theirs].cpu
        cpu_ratio = (tc.server / max(1, t.requests)) / (mc.server / max(1, m.requests))
        say(
            f"{res.rows[mine].label.strip()} vs raw asyncpg: req/s {m.rps / t.rps:.2f}, "
            f"p50 {m.p50_ms / t.p50_ms:.2f}x, p99 {m.p99_ms / t.p99_ms:.2f}x; server CPU per request "
            f"raw÷Tesserra {cpu_ratio:.2f} (the req/s ratio once PostgreSQL has cores of its own)"
        )


def _print_cpu(res: BackendResult) -> None:
    say("CPU during each measured run (100% = one core; the server's CPU per request does not depend on")
    say("what else the machine runs, req/s does: 'other' is CPU used by processes outside the bench)")
    say(f"{'scenario':<48}{'server ms/req':>14}{'÷a':>7}{'server':>8}{'postgres':>10}{'loadgen':>9}{'other':>7}")
    a_ms = _server_ms(res.rows["a"])
    for row in res.rows.values():
        c = row.cpu
        ms = _server_ms(row)
        say(
            f"{row.label:<48}{ms:>14.3f}{ms / a_ms:>7.1f}{c.server / c.wall:>8.0%}{c.postgres / c.wall:>10.0%}"
            f"{c.loader / c.wall:>9.0%}{c.other / c.wall:>7.0%}"
        )


def print_targets(results: list[BackendResult]) -> int:
    """One PASS or MISS line per check; returns how many missed."""
    say()
    say("== targets " + "=" * 100)
    misses = 0
    for res in results:
        for what, ok, detail in res.checks:
            misses += not ok
            say(f"{'PASS' if ok else 'MISS'}  {what:<64} {detail}")
    return misses
