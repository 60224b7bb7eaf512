"""Several `tesserra serve` nodes behind a real HAProxy (Debian ``haproxy``), for tests/cluster/ and
bench/cluster.py.

Each node is a host of its own as far as the server can tell: its own data dir, its own loopback
address (127.0.0.2, .3, .4, ...) and port, one worker; all share one PostgreSQL database (fresh per
cluster) and one Redis (rate limits and the login lockout). HAProxy listens on 127.0.0.1, balances
round robin with no stickiness, health-checks ``/ready``, retries a failed connection on another node
(``option redispatch``) and a request a node dropped unanswered only when its method is idempotent
(GET, HEAD, OPTIONS). Every answer names the node that served it (``X-Tesserra-Node``) and carries
the balancer's request id (``X-Request-Id``, also on HAProxy's own errors), which HAProxy's log
(one line per request: id, node, status, termination state, retries) lets a test look up.

Requirements: the ``haproxy`` binary (.ci/run installs it), PostgreSQL and Redis (tests/support.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import tesserra_http
from tesserra_core.domain.addresses import authority
from tests.support import REDIS_URL, free_port, missing, postgres_database

TESSERRA = str(Path(sys.executable).with_name("tesserra"))
SECRET_KEY = "c" * 48
ADMIN_EMAIL = "admin@tesserra.local"
ADMIN_PASSWORD = "cluster-password-1"
NODE_HEADER = "x-tesserra-node"
CLUSTER_REDIS_DB = 13
"""The Redis database the clusters count in (the other tests use 15): emptied of rate-limit keys at start."""


def haproxy_binary() -> str:
    binary = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        missing("HAProxy", "install the Debian package `haproxy` (.ci/run does)")
        raise AssertionError  # not reached
    return binary


def redis_url() -> str:
    base, _, _ = REDIS_URL.rpartition("/")
    return f"{base}/{CLUSTER_REDIS_DB}"


@dataclass
class Node:
    name: str
    host: str
    port: int
    data: Path
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{authority(self.host, self.port)}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [TESSERRA, "serve", "--host", self.host, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=self.env,
                cwd=self.data.parent,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def stop(self) -> None:
        """SIGINT (stop at once), then SIGKILL of its process group (its tool servers) if it lingers."""
        if self.process is None:
            return
        self.signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


@dataclass
class Cluster:
    nodes: list[Node]
    port: int
    """HAProxy's port on 127.0.0.1."""
    haproxy_log: Path
    database_url: str
    haproxy: subprocess.Popen[bytes] | None = None
    config: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def balancer_log(self) -> list[dict[str, str]]:
        """HAProxy's log so far, one dict per request: id, node, status, state (termination), retries, method."""
        lines = []
        for line in self.haproxy_log.read_text(errors="replace").splitlines():
            parts = line.split(" ")
            if len(parts) == 7 and parts[0] == "req":
                lines.append(dict(zip(("id", "node", "status", "state", "retries", "method"), parts[1:], strict=True)))
        return lines

    async def up(self, within: float = 20.0) -> set[str]:
        """The nodes HAProxy's checks find up (from its answers' X-Tesserra-Node), until all alive ones are."""
        wanted = {n.name for n in self.nodes if n.alive()}
        seen: set[str] = set()
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            while time.monotonic() < deadline:
                seen = set()
                for _ in range(len(self.nodes) * 3):
                    with contextlib.suppress(httpx.TransportError):
                        answer = await http.get("/health")
                        if NODE_HEADER in answer.headers:
                            seen.add(answer.headers[NODE_HEADER])
                if seen >= wanted:
                    return seen
                await asyncio.sleep(0.2)
        pytest.fail(f"HAProxy reached {sorted(seen)}, not every node of {sorted(wanted)}:\n{self.tail()}")

    def tail(self) -> str:
        parts = [f"--- {n.name} ({n.url}):\n{n.log.read_text(errors='replace')[-2500:]}" for n in self.nodes]
        parts.append(f"--- haproxy:\n{self.haproxy_log.read_text(errors='replace')[-2500:]}")
        return "\n".join(parts)


TIMEOUTS = {"client": "60s", "server": "60s", "tunnel": "1h"}
"""HAProxy's inactivity timeouts: ``client`` and ``server`` for HTTP requests and responses (an SSE
stream included: 60 s without a byte ends it), ``tunnel`` once a connection is upgraded to a WebSocket
(it then replaces both). uvicorn pings every WebSocket every 20 s, so one whose client answers pings is
never idle that long; ``tunnel`` bounds one whose far side went silent without closing."""


def haproxy_config(port: int, nodes: list[Node], timeouts: Mapping[str, str] | None = None) -> str:
    """Round robin, no stickiness, /ready checks; safe retries. The README's sample is this config
    (``timeouts``: other values for ``TIMEOUTS``, for a test of them).

    A check is a new connection and a request: about 0.3 ms of a node's CPU, most of it the connection's
    own (/ready is answered ahead of the middleware stack, ``tesserra_http.probes``; it was 0.4 through
    it; a node idle costs ~5.5 ms/s besides, its background loops). Checked every second while nothing changes,
    and every 250 ms once a check failed or passed anew (``fastinter``): a node that dies or drains is
    out after 2 failed checks, within 1.25 s (a node that dies refuses connections at once, which
    HAProxy redispatches before any check); one back is in after 2 passed ones, within 1.25 s."""
    servers = "\n".join(
        f"    server {n.name} {authority(n.host, n.port)} check" + (" source [::1]" if ":" in n.host else "")
        for n in nodes
    )
    set_to = {**TIMEOUTS, **(timeouts or {})}
    return f"""global
    maxconn 4096
    log stdout format raw local0

defaults
    mode http
    log global
    log-format "req %ID %s %ST %tsc %rc %HM"
    timeout connect 2s
    timeout client {set_to["client"]}
    timeout server {set_to["server"]}
    # an upgraded connection (WebSocket): idle this long either way, HAProxy closes it
    timeout tunnel {set_to["tunnel"]}
    timeout check 2s
    timeout http-keep-alive 10s
    # a connection refused (a node that died) is tried again on another node, up to 3 times
    retries 3
    option redispatch 1
    # a request a node dropped unanswered is sent again only where that is safe (see the backend)
    retry-on conn-failure empty-response

frontend tesserra
    bind 127.0.0.1:{port}
    option forwardfor
    unique-id-format %{{+X}}o%ci:%cp_%Ts_%rt
    http-request set-header X-Request-Id %[unique-id]
    http-after-response set-header X-Request-Id %[unique-id]
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    http-reuse safe
    # replaying a POST/PUT/PATCH/DELETE a node may have run would run it twice: only connection failures
    http-request disable-l7-retry unless {{ method GET HEAD OPTIONS }}
    http-response set-header X-Tesserra-Node %s
    default-server source 127.0.0.1 inter 1s fastinter 250ms downinter 1s fall 2 rise 2
{servers}
"""


def node_env(node_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The settings of one node: its own data dir; the shared database, Redis and secret key."""
    return {
        "PYTHONPATH": str(Path(tesserra_http.__file__).parents[1]),  # the code under test
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "TESSERRA_DATABASE_URL": database_url,
        "TESSERRA_DATA_DIR": str(node_dir / "data"),
        "TESSERRA_SECRET_KEY": SECRET_KEY,
        "TESSERRA_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
        "TESSERRA_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
        "TESSERRA_RATE_LIMIT_BACKEND": "redis",
        "TESSERRA_REDIS_URL": redis_url(),
        "TESSERRA_TRUSTED_PROXIES": "127.0.0.1",
        "TESSERRA_MCP_SESSIONS": "none",
        "TESSERRA_DRAIN_DELAY": "2",
        "TESSERRA_DRAIN_GRACE": "30",
        **extra,
    }


async def _healthy(node: Node, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if not node.alive():
                pytest.fail(f"{node.name} exited:\n{node.log.read_text(errors='replace')}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{node.url}/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"{node.name} did not become ready within {within} s:\n{node.log.read_text(errors='replace')}")


def _start_haproxy(binary: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """HAProxy in the foreground (``-db``) after checking ``config``; its log lines go to ``log``."""
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    with log.open("ab") as out:
        return subprocess.Popen(
            [binary, "-db", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _forget_rate_limits() -> None:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(redis_url())
    try:
        keys = [key async for key in client.scan_iter(match="tesserra:rate:*", count=1000)]
        if keys:
            await client.delete(*keys)
    except (OSError, RedisError) as exc:
        missing("Redis", f"{redis_url()} ({exc}); start redis-server or set TESSERRA_TEST_REDIS_URL")
    finally:
        await client.aclose()


@asynccontextmanager
async def cluster(
    tmp: Path,
    size: int = 3,
    *,
    timeouts: Mapping[str, str] | None = None,
    each: Mapping[str, Mapping[str, str]] | None = None,
    hosts: Mapping[str, str] | None = None,
    **extra: str,
) -> AsyncIterator[Cluster]:
    """``size`` nodes on 127.0.0.2, .3, ... sharing a fresh PostgreSQL database and Redis, behind
    HAProxy on 127.0.0.1 (``timeouts``: see ``haproxy_config``); ``extra``: more TESSERRA_* settings
    for every node, ``each``: for the node of that name (``n1``, ``n2``, ...); ``hosts``: another
    listening address for the node of that name (``::1``: HAProxy reaches it from ::1, which it trusts).
    The first node migrates the database and creates the first owner before the others start."""
    binary = haproxy_binary()
    await _forget_rate_limits()
    async with postgres_database() as database_url:
        nodes = []
        for index in range(size):
            name = f"n{index + 1}"
            node_dir = tmp / name
            node_dir.mkdir(parents=True, exist_ok=True)
            host = (hosts or {}).get(name, f"127.0.0.{index + 2}")
            own = {"TESSERRA_TRUSTED_PROXIES": "127.0.0.1,::1"} if ":" in host else {}
            nodes.append(
                Node(
                    name,
                    host,
                    free_port(),
                    node_dir / "data",
                    node_dir / "serve.log",
                    node_env(node_dir, database_url, **{**extra, **own, **(each or {}).get(name, {})}),
                )
            )
        port = free_port()
        made = Cluster(nodes, port, tmp / "haproxy.log", database_url, extra=extra)
        try:
            nodes[0].start()
            await _healthy(nodes[0])
            for node in nodes[1:]:
                node.start()
            await asyncio.gather(*(_healthy(node) for node in nodes[1:]))
            made.config = tmp / "haproxy.cfg"
            made.config.write_text(haproxy_config(port, nodes, timeouts))
            made.haproxy = _start_haproxy(binary, made.config, made.haproxy_log)
            await made.up()
            yield made
        finally:
            if made.haproxy is not None:
                made.haproxy.kill()
                made.haproxy.wait(10)
            for node in nodes:
                node.stop()
