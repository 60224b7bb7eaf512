"""Tesserra's benchmark: run by hand, prints its figures and a PASS/MISS line per target.

    .venv/bin/python bench/run.py                 # PostgreSQL and SQLite, ~3-5 minutes
    .venv/bin/python bench/run.py --backends sqlite --duration 3

Every server is a real subprocess (``tesserra serve``, and the two comparison apps in
``servers.py``), loaded from another process (``wrk`` if installed, else ``loadgen.py``) over
loopback with keep-alive connections for a fixed time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
RATE_SCALE = "1000000"
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

TARGET_RATIO_ME = 0.70  # (b), (c) vs (a)
TARGET_RATIO_LIST = 0.50  # (d) vs raw asyncpg, PostgreSQL
TARGET_VERIFY_US = 10.0
TARGET_COLD_S = 2.0
TARGET_RSS_MB = 120.0


# --------------------------------------------------------------------------- processes


PROCS: list[subprocess.Popen[bytes]] = []


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGINT (uvicorn's graceful stop), then SIGKILL to the whole process group."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc in PROCS:
        PROCS.remove(proc)


def stop_all() -> None:
    for proc in list(PROCS):
        stop(proc, timeout=3)


def require(condition: object, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> tuple[str, list[int]]:
    text = Path(f"/proc/{pid}/stat").read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    rest = text[text.rindex(")") + 2 :].split()
    return comm, [int(v) for v in rest[11:15]]  # utime, stime, cutime, cstime


def proc_cpu(pid: int) -> float:
    _, (utime, stime, _cu, _cs) = _stat(pid)
    return (utime + stime) / CLK_TCK


def postgres_cpu() -> float:
    """Every postgres process's CPU, plus what exited backends left in their parent's cutime/cstime."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            comm, ticks = _stat(entry.name)
            if comm == "postgres":
                total += sum(ticks)
    return total / CLK_TCK


def busy_cpu() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Cpu:
    """CPU seconds spent during one measured run, by whom."""

    wall: float
    server: float
    postgres: float
    loader: float
    busy: float

    @property
    def other(self) -> float:
        return max(0.0, self.busy - self.server - self.postgres - self.loader)


def cpu_snapshot(server_pid: int) -> tuple[float, ...]:
    return time.perf_counter(), proc_cpu(server_pid), postgres_cpu(), children_cpu(), busy_cpu()


def cpu_since(before: tuple[float, ...], server_pid: int) -> Cpu:
    after = cpu_snapshot(server_pid)
    return Cpu(*(b - a for a, b in zip(before, after, strict=True)))


# --------------------------------------------------------------------------- plain HTTP


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None, timeout: float = 30
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], deadline: float = 60.0) -> float:
    """Seconds until ``path`` first answers 200 (polling every 5 ms); fails if the process dies."""
    start = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {path}")
        try:
            status, _ = request(port, "GET", path, timeout=2)
            if status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() - start > deadline:
            raise RuntimeError(f"no 200 on {path} within {deadline} s")
        time.sleep(0.005)


def sequential_latencies(port: int, path: str, headers: dict[str, str], n: int) -> list[float]:
    """``n`` requests one after another on one keep-alive connection; ms each (client included)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    out: list[float] = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            out.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200:
                raise RuntimeError(f"{path} answered {resp.status}")
    finally:
        conn.close()
    return out


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad_status: int
    socket_errors: int


class Loader:
    """wrk (one thread) or bench/loadgen.py, always in its own process."""

    def __init__(self, kind: str, connections: int, warmup: float, duration: float) -> None:
        self.kind = kind
        self.connections = connections
        self.warmup = warmup
        self.duration = duration

    def describe(self) -> str:
        if self.kind == "wrk":
            version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
            tool = f"{version} (1 thread)"
        else:
            tool = "bench/loadgen.py (asyncio + uvloop, 1 process)"
        return (
            f"{tool}, {self.connections} keep-alive connections, "
            f"{self.warmup:g} s warm-up then {self.duration:g} s measured per scenario"
        )

    def warm(self, port: int, path: str, headers: dict[str, str]) -> None:
        if self.warmup > 0:
            self._run(port, path, headers, self.warmup, report=False)

    def measure(self, port: int, path: str, headers: dict[str, str]) -> Load:
        return self._run(port, path, headers, self.duration, report=True)

    def _run(self, port: int, path: str, headers: dict[str, str], seconds: float, report: bool) -> Load:
        if self.kind == "wrk":
            cmd = ["wrk", "-t1", f"-c{self.connections}", "--timeout", "10s", f"-d{max(1, round(seconds))}s"]
            for name, value in headers.items():
                cmd += ["-H", f"{name}: {value}"]
            if report:
                cmd += ["-s", str(BENCH / "wrk_report.lua")]
            cmd.append(f"http://{HOST}:{port}{path}")
            tag = "WRKJSON "
        else:
            cmd = [
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--port",
                str(port),
                "--path",
                path,
                "--connections",
                str(self.connections),
                "--warmup",
                "0",
                "--duration",
                str(seconds),
            ]
            for name, value in headers.items():
                cmd += ["-H", f"{name}: {value}"]
            tag = "LOADJSON "
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
        if not report:
            return Load(0, 0, 0, 0, 0, 0)
        data = _tagged_json(out, tag)
        errors = (
            data["err_connect"] + data["err_read"] + data["err_write"] + data["err_timeout"]
            if self.kind == "wrk"
            else data["err_socket"]
        )
        return Load(
            rps=data["requests"] / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            requests=data["requests"],
            bad_status=data["err_status"],
            socket_errors=errors,
        )


def _tagged_json(output: str, tag: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(tag):
            found: dict[str, Any] = json.loads(line[len(tag) :])
            return found
    raise RuntimeError(f"load generator printed no {tag.strip()} line:\n{output}")


# --------------------------------------------------------------------------- data


def ulid(ms: int, rnd: int) -> str:
    value = ms << 80 | rnd
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


@dataclass
class TenantRows:
    rows: list[tuple[str, str, str, str, str, datetime, datetime]]

    @classmethod
    def make(cls, count: int) -> TenantRows:
        """``count`` tenants, one per millisecond over the past, so ids (ULIDs) sort by creation."""
        rng = random.Random(20240601)  # ids need shape and order here, not secrecy
        base_ms = int(time.time() * 1000) - 30 * 86_400_000
        rows = []
        for i in range(count):
            ms = base_ms + i
            at = datetime.fromtimestamp(ms / 1000, UTC)
            rows.append(
                (ulid(ms, rng.getrandbits(80)), f"Bench Tenant {i}", f"bench-{i:06d}", "active", "free", at, at)
            )
        ids = [r[0] for r in rows]
        require(ids == sorted(ids), "ids are not time-ordered")
        require(len(set(ids)) == count and all(len(i) == 26 for i in ids), "ids are not 26 unique characters")
        return cls(rows)


async def seed_postgres(dsn: str, data: TenantRows) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "tenants",
            records=data.rows,
            columns=["id", "name", "slug", "status", "plan", "created_at", "updated_at"],
        )
        await conn.execute("VACUUM ANALYZE tenants")  # what autovacuum would do soon after a bulk load
    finally:
        await conn.close()


def seed_sqlite(path: Path, data: TenantRows) -> None:
    fmt = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite (naive UTC)
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO tenants (id, name, slug, status, plan, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                [(*r[:5], r[5].strftime(fmt), r[6].strftime(fmt)) for r in data.rows],
            )
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def capture_list_sql(url: str, deep_offset: int) -> list[tuple[str, Any]]:
    """The statements SqlTenants.list really issues (read off SQLAlchemy, not retyped)."""
    from sqlalchemy import event

    from tesserra_adapters.sql.engine import open_engine
    from tesserra_adapters.sql.identity import SqlTenants
    from tesserra_core.domain.paging import PageRequest

    engine = open_engine(url)
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.connect() as conn:
            await SqlTenants(conn).list(PageRequest(50, deep_offset))
    finally:
        await engine.dispose()
    return seen


# --------------------------------------------------------------------------- in-process


async def inprocess_checks(env: dict[str, str], key: str, token: str, email: str, password: str) -> dict[str, Any]:
    """uc.authenticate(credential) per call, cached and not, and how often argon2 runs meanwhile."""
    from tesserra_adapters.bootstrap import running
    from tesserra_adapters.security import Argon2Hasher
    from tesserra_adapters.settings import Settings
    from tesserra_core.usecases.sessions import Credentials

    settings = Settings.from_env(env)
    out: dict[str, Any] = {}
    async with running(settings) as uc:
        hasher = uc.ports.hasher
        assert isinstance(hasher, Argon2Hasher), hasher  # its _verify is timed alone below
        calls = {"argon2": 0}
        for name in ("hash", "verify", "burn"):
            original = getattr(hasher, name)

            def counted(*a: Any, _original: Callable[..., Any] = original, **kw: Any) -> Any:
                calls["argon2"] += 1
                return _original(*a, **kw)

            setattr(hasher, name, counted)

        t0 = time.perf_counter()
        hasher._verify(await _hash_once(hasher, password), password)  # argon2 verify, timed alone
        out["argon2_ms"] = (time.perf_counter() - t0) * 1000
        calls["argon2"] = 0

        auth = uc.authenticate
        for label, credential in (("key", key), ("jwt", token)):
            await auth(credential)  # fills the cache
            per_call = []
            n = 20_000
            for _ in range(7):
                t0 = time.perf_counter()
                for _ in range(n):
                    await auth(credential)
                per_call.append((time.perf_counter() - t0) / n * 1e6)
            out[f"{label}_us"] = min(per_call)
            out[f"{label}_us_median"] = statistics.median(per_call)
            cold = []
            for _ in range(100):
                auth.cache.clear()
                t0 = time.perf_counter()
                await auth(credential)
                cold.append((time.perf_counter() - t0) * 1e6)
            out[f"{label}_uncached_us"] = statistics.median(cold)
        out["argon2_calls_during_auth"] = calls["argon2"]
        await uc.sessions.login(Credentials(email=email, password=password))
        out["argon2_calls_during_login"] = calls["argon2"] - out["argon2_calls_during_auth"]
    return out


async def _hash_once(hasher: Any, password: str) -> str:
    return str(await asyncio.to_thread(hasher._argon.hash, password))


# --------------------------------------------------------------------------- profiling (--profile)


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def start_profile(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy, sampling the thread that holds the GIL (so: where the server's Python CPU goes)."""
    cmd = [
        py_spy() or "py-spy",
        "record",
        "-p",
        str(pid),
        "-d",
        str(max(1, round(seconds))),
        "-r",
        "200",
        "-f",
        "raw",
        "-o",
        str(out),
        "--gil",
        "--nonblocking",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_LAYERS = (
    ("driver: asyncpg / aiosqlite (incl. socket and thread I/O)", ("asyncpg/", "aiosqlite/", "sqlite3/")),
    ("SQLAlchemy Core + greenlet bridge", ("sqlalchemy/", "greenlet")),
    ("tesserra_adapters", ("tesserra_adapters/",)),
    ("tesserra_core", ("tesserra_core/",)),
    ("tesserra_http (middlewares, controllers)", ("tesserra_http/",)),
    ("Litestar + anyio + msgspec", ("litestar/", "anyio/", "msgspec/")),
    ("uvicorn + httptools + event loop", ("uvicorn/", "asyncio/", "httptools", "uvloop")),
)


def summarize_profile(raw: Path, top: int = 10) -> list[str]:
    """From py-spy's raw output: self time by layer, the top functions by self time, and Tesserra's
    own functions (use cases, repositories, unit of work, guard) by inclusive time."""
    if not raw.exists():
        return ["(py-spy wrote nothing: is ptrace allowed?)"]
    layers: dict[str, int] = {}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f for f in stack.split(";")]
        leaf = frames[-1]
        layer = next((name for name, keys in _LAYERS if any(k in leaf for k in keys)), "other")
        layers[layer] = layers.get(layer, 0) + n
        own[leaf] = own.get(leaf, 0) + n
        for frame in set(frames):
            if any(k in frame for k in _OWN) and not any(k in frame for k in _SKIP):
                inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return ["(no samples)"]

    def pct(items: dict[str, int], limit: int) -> list[str]:
        return [f"  {n / total:6.1%}  {f}" for f, n in sorted(items.items(), key=lambda kv: -kv[1])[:limit]]

    return [
        f"{total} samples; self time by layer:",
        *pct(layers, len(layers)),
        "top functions by self time:",
        *pct(own, top),
        "Tesserra and hot library entry points, inclusive:",
        *pct(inclusive, 2 * top),
    ]


_OWN = (
    "tesserra_core/",
    "tesserra_adapters/",
    "tesserra_http/guard",
    "tesserra_http/context",
    "KwargsModel.resolve_dependencies",
    "Engine.connect",
    "AsyncConnection.start",
    "AsyncConnection.close",
    "encode_json",
)
_SKIP = ("tesserra_http/cli",)


def import_seconds(code: str) -> float:
    """Interpreter start plus ``code``'s imports, best of two (a cold start cannot beat this)."""
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


# --------------------------------------------------------------------------- one backend


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


def tesserra_cmd() -> list[str]:
    script = Path(sys.executable).parent / "tesserra"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tesserra_http.cli"]


def server_env(db_url: str, data_dir: Path, port: int, email: str, password: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERRA_")}
    env.update(
        TESSERRA_DATABASE_URL=db_url,
        TESSERRA_DATA_DIR=str(data_dir),
        TESSERRA_SECRET_KEY=secret,
        TESSERRA_BOOTSTRAP_EMAIL=email,
        TESSERRA_BOOTSTRAP_PASSWORD=password,
        TESSERRA_RATE_LIMIT_SCALE=RATE_SCALE,
        TESSERRA_HOST=HOST,
        TESSERRA_PORT=str(port),
    )
    return env


def say(text: str = "") -> None:
    print(text, flush=True)


def bench_backend(
    name: str,
    db_url: str,
    work: Path,
    loader: Loader,
    data: TenantRows,
    deep_offset: int,
    seed: Callable[[], None],
    raw_dsn: str | None,
    profile: Path | None = None,
    rounds: int = 3,
) -> BackendResult:
    res = BackendResult(name)
    port = free_port()
    email, password, secret = "bench@tesserra.local", secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    env = server_env(db_url, work / f"data-{name}", port, email, password, secret)
    log = work / f"serve-{name}.log"
    cmd = [*tesserra_cmd(), "serve", "--port", str(port)]

    def start() -> tuple[subprocess.Popen[bytes], float]:
        t0 = time.perf_counter()
        proc = spawn(cmd, env, log)
        wait_ready(port, "/health", proc)
        return proc, time.perf_counter() - t0

    # Cold starts: empty database (migrations + first owner), then twice on the migrated one.
    proc, cold_empty = start()
    stop(proc)
    proc, cold_1 = start()
    stop(proc)
    proc, cold_2 = start()  # this one stays up for the load
    cold_migrated = min(cold_1, cold_2)
    say(f"  cold start to first 200 on /health: empty db {cold_empty:.2f} s; migrated {cold_1:.2f} s, {cold_2:.2f} s")
    res.check(f"cold start, empty db < {TARGET_COLD_S:g} s", cold_empty < TARGET_COLD_S, f"{cold_empty:.2f} s")
    res.check(f"cold start, migrated db < {TARGET_COLD_S:g} s", cold_migrated < TARGET_COLD_S, f"{cold_migrated:.2f} s")

    time.sleep(2.0)
    rss_start = rss_mb(proc.pid)

    # Credentials: a login (argon2, timed), a JWT, an API key minted with it.
    t0 = time.perf_counter()
    status, body = request(port, "POST", "/api/auth/login", body={"email": email, "password": password})
    login_ms = (time.perf_counter() - t0) * 1000
    require(status == 200, str((status, body)))
    token = json.loads(body)["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    status, body = request(port, "POST", "/api/auth/keys/generate", headers=bearer, body={"name": "bench"})
    require(status == 201, str((status, body)))
    key = json.loads(body)["key"]
    api_key = {"X-API-Key": key}
    status, me_body = request(port, "GET", "/api/auth/me", headers=api_key)
    require(status == 200, str((status, me_body)))
    (work / f"me-{name}.json").write_bytes(me_body)
    status, body = request(port, "GET", "/api/auth/me", headers=bearer)
    require(status == 200 and json.loads(body)["auth_method"] == "jwt", f"/auth/me with the JWT: {status} {body!r}")

    # 100,000 tenants, straight into the table the server migrated.
    t0 = time.perf_counter()
    seed()
    list_path = "/api/admin/tenants?limite=50&offset={}"
    status, body = request(port, "GET", list_path.format(0), headers=bearer)
    total = json.loads(body)["total"] if status == 200 else None
    require(total == len(data.rows) + 1, str((status, body[:300])))
    say(f"  seeded {len(data.rows):,} tenants in {time.perf_counter() - t0:.1f} s (API total: {total:,})")

    # The comparison servers.
    ceiling_port = free_port()
    ceiling = spawn(
        [
            sys.executable,
            str(BENCH / "servers.py"),
            "ceiling",
            "--port",
            str(ceiling_port),
            "--body",
            str(work / f"me-{name}.json"),
        ],
        os.environ.copy(),
        work / f"ceiling-{name}.log",
    )
    wait_ready(ceiling_port, "/api/auth/me", ceiling)
    ceiling_body = request(ceiling_port, "GET", "/api/auth/me")[1]
    require(json.loads(ceiling_body) == json.loads(me_body), "the ceiling app answers another body")

    raw_port = None
    if raw_dsn is not None:
        statements = asyncio.run(capture_list_sql(db_url, deep_offset))
        require(len(statements) == 2, str(statements))
        (page_sql, page_params), (count_sql, _) = statements
        require(list(page_params) == [50, deep_offset], f"unexpected parameters {page_params}")
        (work / "list-sql.json").write_text(json.dumps({"page": page_sql, "count": count_sql}))
        say("  SqlTenants.list issues (captured from SQLAlchemy, run verbatim by the raw handler):")
        for sql in (page_sql, count_sql):
            say("    " + " ".join(sql.split()))
        raw_port = free_port()
        raw = spawn(
            [
                sys.executable,
                str(BENCH / "servers.py"),
                "rawpg",
                "--port",
                str(raw_port),
                "--dsn",
                raw_dsn,
                "--sql",
                str(work / "list-sql.json"),
            ],
            os.environ.copy(),
            work / f"rawpg-{name}.log",
        )
        wait_ready(raw_port, "/api/admin/tenants?limite=1", raw)
        for offset in (0, deep_offset):
            mine = json.loads(request(port, "GET", list_path.format(offset), headers=bearer)[1])
            theirs = json.loads(request(raw_port, "GET", list_path.format(offset))[1])
            require(mine == theirs, f"raw handler answers differently at offset {offset}")
        say("  raw asyncpg handler answers byte-for-byte the same JSON (offset 0 and deep): yes")

    scenarios: list[tuple[str, str, int, str, dict[str, str]]] = [
        ("a", "(a) ceiling: bare Litestar, same JSON", ceiling_port, "/api/auth/me", {}),
        ("h", "    Tesserra GET /health (no auth, no DB)", port, "/health", {}),
        ("b", "(b) GET /api/auth/me, X-API-Key", port, "/api/auth/me", api_key),
        ("c", "(c) GET /api/auth/me, Bearer JWT", port, "/api/auth/me", bearer),
        ("d0", "(d) GET /api/admin/tenants, offset 0", port, list_path.format(0), bearer),
        ("dN", f"(d) GET /api/admin/tenants, offset {deep_offset:,}", port, list_path.format(deep_offset), bearer),
    ]
    if raw_port is not None:
        scenarios += [
            ("r0", "    raw asyncpg handler, offset 0", raw_port, list_path.format(0), {}),
            ("rN", f"    raw asyncpg handler, offset {deep_offset:,}", raw_port, list_path.format(deep_offset), {}),
        ]
    pids = {port: proc.pid, ceiling_port: ceiling.pid}
    if raw_port is not None:
        pids[raw_port] = raw.pid

    def measure(tag: str, label: str, p: int, path: str, headers: dict[str, str]) -> Row:
        status, _ = request(p, "GET", path, headers=headers)
        require(status == 200, f"{label}: {status}")
        loader.warm(p, path, headers)
        spy = None
        if profile is not None and p == port:
            spy = start_profile(pids[p], profile / f"{name}-{tag}.raw", loader.duration)
        before = cpu_snapshot(pids[p])
        load = loader.measure(p, path, headers)
        row = Row(label, load, cpu_since(before, pids[p]))
        cpu_ms = row.cpu.server / max(1, load.requests) * 1000
        say(
            f"  {label:<46} {load.rps:8.0f} req/s  p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:6.2f} ms"
            f"  server CPU {cpu_ms:.2f} ms/req"
        )
        if spy is not None and profile is not None:
            spy.wait(timeout=loader.duration + 60)
            res.profiles[tag] = summarize_profile(profile / f"{name}-{tag}.raw")
        return row

    # The ratios to (a) are what the targets judge, and req/s on a shared 2-core machine drifts
    # between runs: the cheap scenarios run interleaved, ``rounds`` times, and each keeps its
    # median run. The database-bound ones run once.
    cheap = [s for s in scenarios if s[0] in ("a", "h", "b", "c")]
    runs: dict[str, list[Row]] = {s[0]: [] for s in cheap}
    for _ in range(rounds):
        for scenario in cheap:
            runs[scenario[0]].append(measure(*scenario))
    for tag, rows in runs.items():
        res.rows[tag] = sorted(rows, key=lambda r: r.load.rps)[len(rows) // 2]
    for scenario in scenarios:
        if scenario[0] not in runs:
            res.rows[scenario[0]] = measure(*scenario)

    # argon2 stays on the login path: a burst of /auth/me against one login.
    seq_key = sequential_latencies(port, "/api/auth/me", api_key, 300)
    seq_jwt = sequential_latencies(port, "/api/auth/me", bearer, 300)
    res.notes.append(
        f"login (one argon2id verify, client-timed): {login_ms:.1f} ms; sequential /api/auth/me on one connection, "
        f"300 each: X-API-Key p50 {statistics.median(seq_key):.2f} ms (max {max(seq_key):.2f}), "
        f"JWT p50 {statistics.median(seq_jwt):.2f} ms (max {max(seq_jwt):.2f})"
    )

    inproc = run_async(inprocess_checks(env, key, token, email, password))
    res.notes.append(
        f"uc.authenticate in-process, cached: API key {inproc['key_us']:.2f} µs (median of 7 runs "
        f"{inproc['key_us_median']:.2f}), JWT {inproc['jwt_us']:.2f} µs ({inproc['jwt_us_median']:.2f}); "
        f"uncached (cache cleared, DB round trips): key {inproc['key_uncached_us']:.0f} µs, "
        f"JWT {inproc['jwt_uncached_us']:.0f} µs"
    )
    res.notes.append(
        f"argon2id verify in-process: {inproc['argon2_ms']:.1f} ms; argon2 calls during 280,000 cached + 200 "
        f"uncached authentications: {inproc['argon2_calls_during_auth']}; during one uc.sessions.login: "
        f"{inproc['argon2_calls_during_login']}"
    )
    res.check(
        f"verify repeated API key < {TARGET_VERIFY_US:g} µs",
        inproc["key_us"] < TARGET_VERIFY_US,
        f"{inproc['key_us']:.2f} µs",
    )
    res.check(
        f"verify repeated JWT < {TARGET_VERIFY_US:g} µs",
        inproc["jwt_us"] < TARGET_VERIFY_US,
        f"{inproc['jwt_us']:.2f} µs",
    )
    worst = max(statistics.median(seq_key), statistics.median(seq_jwt))
    argon_free = (
        inproc["argon2_calls_during_auth"] == 0
        and inproc["argon2_calls_during_login"] >= 1
        and worst < inproc["argon2_ms"] / 4
    )
    res.check(
        "argon2 never runs on key/JWT requests",
        argon_free,
        f"0 calls in-process (login: {inproc['argon2_calls_during_login']}); /auth/me p50 {worst:.2f} ms "
        f"vs argon2 {inproc['argon2_ms']:.1f} ms",
    )

    time.sleep(2.0)
    rss_after = rss_mb(proc.pid)
    res.notes.append(
        f"idle RSS of tesserra serve: {rss_start:.1f} MB after startup, {rss_after:.1f} MB after the load "
        f"(peak VmHWM {rss_mb(proc.pid, 'VmHWM'):.1f} MB, "
        f"{len(list(Path(f'/proc/{proc.pid}/task').iterdir()))} threads)"
    )
    res.check(f"idle RSS after startup < {TARGET_RSS_MB:g} MB", rss_start < TARGET_RSS_MB, f"{rss_start:.1f} MB")
    res.check(f"idle RSS after load < {TARGET_RSS_MB:g} MB", rss_after < TARGET_RSS_MB, f"{rss_after:.1f} MB")

    a = res.rows["a"].load.rps
    for tag, what in (("b", "(b) API key"), ("c", "(c) JWT")):
        ratio = res.rows[tag].load.rps / a
        res.check(f"{what} req/s >= {TARGET_RATIO_ME:.0%} of (a)", ratio >= TARGET_RATIO_ME, f"{ratio:.0%}")
    if raw_port is not None:
        for mine, theirs, what in (("d0", "r0", "offset 0"), ("dN", "rN", f"offset {deep_offset:,}")):
            ratio = res.rows[mine].load.rps / res.rows[theirs].load.rps
            res.check(
                f"(d) {what} req/s >= {TARGET_RATIO_LIST:.0%} of raw asyncpg",
                ratio >= TARGET_RATIO_LIST,
                f"{ratio:.0%}",
            )
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
    stop_all()
    return res


def run_async(coro: Any) -> Any:
    """Like asyncio.run, on uvloop when installed (as ``tesserra serve`` runs)."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def print_table(res: BackendResult) -> None:
    a = res.rows["a"]
    say()
    say(f"== {res.name} " + "=" * (112 - len(res.name)))
    say(
        f"{'scenario':<48}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s÷a':>9}{'p50÷a':>8}{'p99÷a':>8}"
        f"{'requests':>10}{'non-2xx':>9}"
    )
    for row in res.rows.values():
        ld = row.load
        say(
            f"{row.label:<48}{ld.rps:>9.0f}{ld.p50_ms:>9.2f}{ld.p99_ms:>9.2f}"
            f"{ld.rps / a.load.rps:>9.2f}{ld.p50_ms / a.load.p50_ms:>8.2f}{ld.p99_ms / a.load.p99_ms:>8.2f}"
            f"{ld.requests:>10}{ld.bad_status + ld.socket_errors:>9}"
        )
    if "r0" in res.rows:
        for mine, theirs in (("d0", "r0"), ("dN", "rN")):
            m, t = res.rows[mine].load, res.rows[theirs].load
            mc, tc = res.rows[mine].cpu, res.rows[theirs].cpu
            cpu_ratio = (tc.server / max(1, t.requests)) / (mc.server / max(1, m.requests))
            say(
                f"{res.rows[mine].label.strip()} vs raw asyncpg: req/s {m.rps / t.rps:.2f}, "
                f"p50 {m.p50_ms / t.p50_ms:.2f}x, p99 {m.p99_ms / t.p99_ms:.2f}x; server CPU per request "
                f"raw÷Tesserra {cpu_ratio:.2f} (the req/s ratio once PostgreSQL has cores of its own)"
            )
    say()
    say("CPU during each measured run (100% = one core; the server's CPU per request does not depend on")
    say("what else the machine runs, req/s does: 'other' is CPU used by processes outside the bench)")
    say(f"{'scenario':<48}{'server ms/req':>14}{'÷a':>7}{'server':>8}{'postgres':>10}{'loadgen':>9}{'other':>7}")
    a_ms = a.cpu.server / max(1, a.load.requests) * 1000
    for row in res.rows.values():
        c = row.cpu
        ms = c.server / max(1, row.load.requests) * 1000
        say(
            f"{row.label:<48}{ms:>14.3f}{ms / a_ms:>7.1f}{c.server / c.wall:>8.0%}{c.postgres / c.wall:>10.0%}"
            f"{c.loader / c.wall:>9.0%}{c.other / c.wall:>7.0%}"
        )
    for note in res.notes:
        say(f"- {note}")
    for tag, lines in res.profiles.items():
        say()
        say(f"py-spy --gil during {res.rows[tag].label.strip()}:")
        for line in lines:
            say("  " + line)


# --------------------------------------------------------------------------- main


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server at ``admin_url`` (asyncpg DSN); dropped at the end."""
    import asyncpg

    name = f"tesserra_bench_{os.getpid()}_{secrets.token_hex(3)}"

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        stop_all()
        asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def choose_loader(kind: str) -> str:
    if kind == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run with --loader python)")
    return kind


def main() -> None:
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
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, captured bodies)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run py-spy (pip install py-spy) on tesserra serve during (b), (c), (d); slows it a little",
    )
    args = parser.parse_args()
    if args.profile and py_spy() is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    loader_kind = choose_loader(args.loader)
    if loader_kind == "python" and args.loader == "auto":
        say("note: wrk not found, using bench/loadgen.py (apt-get install -y wrk for lighter load generation)")
    loader = Loader(loader_kind, args.connections, args.warmup, args.duration)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="tesserra-bench-"))
    started = time.perf_counter()
    try:
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
        profile = work if args.profile else None
        data = TenantRows.make(args.tenants)
        results = []
        for backend in backends:
            say()
            if backend == "postgres":
                say(f"PostgreSQL: fresh database on {args.pg.rsplit('/', 1)[0]}")
                with postgres_database(args.pg) as dsn:
                    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
                    results.append(
                        bench_backend(
                            "PostgreSQL",
                            url,
                            work,
                            loader,
                            data,
                            args.deep_offset,
                            lambda: asyncio.run(seed_postgres(dsn, data)),
                            raw_dsn=dsn,
                            profile=profile,
                            rounds=args.rounds,
                        )
                    )
            elif backend == "sqlite":
                db = work / "bench.db"
                say(f"SQLite: {db}")
                results.append(
                    bench_backend(
                        "SQLite",
                        f"sqlite+aiosqlite:///{db}",
                        work,
                        loader,
                        data,
                        args.deep_offset,
                        partial(seed_sqlite, db, data),
                        raw_dsn=None,
                        profile=profile,
                        rounds=args.rounds,
                    )
                )
            else:
                raise SystemExit(f"unknown backend {backend!r}")
        say()
        say("Interpreter start + imports alone (best of 2), the floor under any cold start:")
        serve_imports = "import tesserra_http.cli, tesserra_http.app, tesserra_adapters.container, uvicorn, uvloop"
        say(f"  {serve_imports}: {import_seconds(serve_imports):.2f} s")
        say(f"  import mcp.server (the MCP SDK alone): {import_seconds('import mcp.server'):.2f} s")
        frameworks = "import litestar, sqlalchemy.ext.asyncio"
        say(f"  {frameworks}: {import_seconds(frameworks):.2f} s")
        for res in results:
            print_table(res)
        say()
        say("== targets " + "=" * 100)
        misses = 0
        for res in results:
            for what, ok, detail in res.checks:
                misses += not ok
                say(f"{'PASS' if ok else 'MISS'}  {what:<64} {detail}")
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
