"""Where a cold start's time and an idle server's memory go, printed so that the next regression
shows at once which module grew:

* the imports of a real ``tesserra serve`` start (``-X importtime``, through
  ``PYTHONPROFILEIMPORTTIME``): the top modules by cumulative time, the self time summed per
  top-level package, and which of the SDKs a default server loads only on demand it imported;
* the memory of the running server from ``/proc/<pid>/smaps_rollup`` (one process unless
  ``--workers``: the bench says how many it summed), anonymous against file-backed;
* the RSS a fresh interpreter gains importing each group of modules the server loads, in the
  order it loads them, then what each on-demand SDK would add if it were loaded too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Serve, say, stop

ON_DEMAND = ("mcp", "mcp_types", "pydantic", "alembic", "httpx", "dns", "stripe", "aiodocker", "aiohttp", "redis")
"""Imported on first use, never by a default start (SQLite, process runtime, no Stripe key, no
Docker, no Redis): /mcp and tool calls, migrations to run, outbound HTTP, DNS, billing, Docker."""

SERVER_GROUPS: tuple[tuple[str, str], ...] = (
    ("asyncio, uvloop, ssl", "asyncio, uvloop, ssl"),
    ("sqlalchemy (async engine, with the ORM its package imports), aiosqlite", "sqlalchemy.ext.asyncio, aiosqlite"),
    ("litestar", "litestar, litestar.openapi.plugins"),
    ("uvicorn, httptools", "uvicorn, uvicorn.protocols.http.httptools_impl"),
    ("jwt, argon2, cryptography (AES-GCM)", "jwt, argon2, cryptography.hazmat.primitives.ciphers.aead"),
    ("tesserra_core (use cases, domain)", "tesserra_core.facade"),
    ("tesserra_adapters.bootstrap (adapters)", "tesserra_adapters.bootstrap"),
    ("tesserra_http (app, routes, serving)", "tesserra_http.app, tesserra_http.serving"),
)
SDK_GROUPS: tuple[tuple[str, str], ...] = (
    ("mcp SDK, client and server (first /mcp request or tool call)", "mcp.client.session, mcp.server.mcpserver"),
    ("alembic (a database not at head)", "alembic.command, alembic.script"),
    ("httpx (first outbound call)", "httpx"),
    ("dnspython (first zone edit or lookup)", "dns.asyncresolver, dns.zone"),
    ("stripe (TESSERRA_STRIPE_SECRET_KEY set)", "stripe"),
    ("aiodocker (TESSERRA_RUNTIME=docker)", "aiodocker"),
)

_GROUP_RSS = """
import importlib, json, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
out = [rss()]
for group in json.loads(sys.argv[1]):
    for name in group:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    out.append(rss())
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Imported:
    name: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(text: str) -> list[Imported]:
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append(Imported(name.strip(), int(self_us), int(cumulative), (len(name) - len(name.lstrip())) // 2))
    return rows


def import_profile(serve: Serve) -> list[Imported]:
    """One more start of the server with ``-X importtime`` (so the cold starts stay unprofiled)."""
    log = serve.log.with_name(serve.log.stem + "-importtime.log")
    env = {**serve.env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc, _ = Serve(serve.port, env, log, serve.email, serve.password).start()
    stop(proc)
    return parse_importtime(log.read_text(errors="replace"))


def print_import_profile(rows: list[Imported], top: int = 15) -> None:
    total = sum(r.self_us for r in rows)
    say(f"  imports of a real start ({len(rows)} modules, {total / 1e6:.2f} s; -X importtime, top {top} cumulative):")
    for r in sorted(rows, key=lambda r: r.cumulative_us, reverse=True)[:top]:
        say(f"    {r.cumulative_us / 1000:7.1f} ms cumulative {r.self_us / 1000:6.1f} ms self  {r.name}")
    by_package: Counter[str] = Counter()
    for r in rows:
        by_package[r.name.split(".")[0]] += r.self_us
    per_package = ", ".join(f"{p} {us / 1000:.0f}" for p, us in by_package.most_common(12))
    say(f"  self time per top-level package, ms: {per_package}")
    loaded = ", ".join(sorted({r.name.split(".")[0] for r in rows} & set(ON_DEMAND))) or "none"
    say(f"  on-demand modules imported by this start: {loaded} (of {', '.join(ON_DEMAND)})")


def _processes(pid: int) -> list[int]:
    """``pid`` and its children (the prefork workers of ``--workers N``)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def smaps_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        out[key] = int(value.split()[0]) / 1024
    return out


def print_memory(pid: int, when: str) -> None:
    """smaps_rollup of the server, summed over its processes, and how many that is."""
    pids = _processes(pid)
    total: Counter[str] = Counter()
    for p in pids:
        total.update(smaps_mb(p))
    threads = sum(len(list(Path(f"/proc/{p}/task").iterdir())) for p in pids)
    what = "one process (no forked workers)" if len(pids) == 1 else f"{len(pids)} processes summed"
    say(
        f"  memory {when}, {what}, {threads} threads: Rss {total['Rss']:.1f} MB = anonymous "
        f"{total['Anonymous']:.1f} + file-backed {total['Rss'] - total['Anonymous']:.1f} "
        f"(Pss {total['Pss']:.1f}: anon {total['Pss_Anon']:.1f}, file {total['Pss_File']:.1f})"
    )


def _group_rss(groups: tuple[tuple[str, str], ...]) -> list[float]:
    modules = [[m.strip() for m in names.split(",")] for _, names in groups]
    out = subprocess.run(
        [sys.executable, "-c", _GROUP_RSS, json.dumps(modules)], check=True, capture_output=True, text=True
    )
    return list(json.loads(out.stdout))


def print_import_rss() -> None:
    say()
    say("RSS of a fresh interpreter importing what the server loads, group by group (in its order):")
    rss = _group_rss(SERVER_GROUPS)
    say(f"  {rss[0]:6.1f} MB  the interpreter")
    for (label, _), before, after in zip(SERVER_GROUPS, rss, rss[1:], strict=False):
        say(f"  {after - before:+6.1f} MB  {label}")
    say(f"  {rss[-1]:6.1f} MB  in all, before the app is built and the database opened")
    say("What each SDK a default server loads only on demand would add on top (each alone):")
    for label, names in SDK_GROUPS:
        alone = _group_rss((*SERVER_GROUPS, (label, names)))
        say(f"  {alone[-1] - alone[-2]:+6.1f} MB  {label}")
