"""What the bench scripts share: subprocesses in their own session (stopped at the end), a plain
HTTP client for loopback, how ``tesserra serve`` is started, and a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
RATE_SCALE = "1000000"
# On a machine shared with other work, the servers measured and the load generator run ahead of it
# (as root: nice -15 unless TESSERRA_BENCH_NICE says otherwise), so that the tails printed are the
# servers' own and not the time a neighbour's test run held the core.
NICE = int(os.environ.get("TESSERRA_BENCH_NICE", "-15")) if os.geteuid() == 0 else 0


def ahead_of_other_work() -> None:
    """The ``preexec_fn`` of a child started in a session of its own: it, its threads and its children
    run at ``NICE``. With autogroup scheduling (Linux's default for desktops and many VMs) a session's
    processes share one scheduling group whose weight only the group's own nice sets, so both are set."""
    if NICE:
        os.nice(NICE - os.nice(0))
        with suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(NICE))


# --------------------------------------------------------------------------- processes


PROCS: list[subprocess.Popen[bytes]] = []


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=ahead_of_other_work
        )
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


def say(text: str = "") -> None:
    print(text, flush=True)


def run_async(coro: Any) -> Any:
    """Like asyncio.run, on uvloop when installed (as ``tesserra serve`` runs)."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


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


def _answers_200(port: int, path: str) -> bool:
    try:
        status, _ = request(port, "GET", path, timeout=2)
    except OSError:
        return False
    return status == 200


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], deadline: float = 60.0) -> float:
    """Seconds until ``path`` first answers 200 (polling every 5 ms); fails if the process dies."""
    start = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {path}")
        if _answers_200(port, path):
            return time.perf_counter() - start
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


# --------------------------------------------------------------------------- tesserra serve


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


@dataclass(frozen=True)
class Serve:
    """One backend's ``tesserra serve``: its port, environment, log and bootstrap owner."""

    port: int
    env: dict[str, str]
    log: Path
    email: str
    password: str

    @classmethod
    def configure(cls, name: str, db_url: str, work: Path, *, metrics: bool = False) -> Serve:
        """``metrics``: with a metrics token, so that every request is measured (bench/run.py --metrics)."""
        port = free_port()
        email, password, secret = "bench@tesserra.local", secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        env = server_env(db_url, work / f"data-{name}", port, email, password, secret)
        if metrics:
            env["TESSERRA_METRICS_TOKEN"] = secrets.token_urlsafe(24)
        return cls(port, env, work / f"serve-{name}.log", email, password)

    def start(self, *extra: str) -> tuple[subprocess.Popen[bytes], float]:
        """A new server process (``extra``: more ``serve`` arguments, e.g. ``--workers 2``), and the
        seconds from spawning it to the first 200 on /health."""
        t0 = time.perf_counter()
        proc = spawn([*tesserra_cmd(), "serve", "--port", str(self.port), *extra], self.env, self.log)
        wait_ready(self.port, "/health", proc)
        return proc, time.perf_counter() - t0


# --------------------------------------------------------------------------- PostgreSQL


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
