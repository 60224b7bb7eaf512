"""Shared test machinery: real databases, and the real HTTP server on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_core.facade import UseCases

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("TESSERRA_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TESSERRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_ALL = os.environ.get("TESSERRA_TEST_REQUIRE_ALL") == "1"


def missing(component: str, how: str) -> None:
    """Skip (or, under TESSERRA_TEST_REQUIRE_ALL=1, fail) a test whose real component is absent."""
    message = f"{component} is not available: {how}"
    if REQUIRE_ALL:
        pytest.fail(message)
    pytest.skip(message)


def require_ipv6_loopback() -> None:
    """Skip (see ``missing``) where this machine cannot bind ::1 (IPv6 off, or a container without it)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as exc:
        missing("IPv6 loopback (::1)", str(exc))


async def redis_client() -> Any:
    """A client of the test Redis server (database 15 by default), or a skip naming how to start it."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        await client.aclose()
        missing("Redis", f"{REDIS_URL} ({exc}); start redis-server or set TESSERRA_TEST_REDIS_URL")
    return client


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this test run (dropped afterwards); yields its URL."""
    import asyncpg

    name = f"tesserra_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        missing("PostgreSQL", f"{PG_ADMIN_URL} ({exc}); start it or set TESSERRA_TEST_DATABASE_URL")
        raise
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def database_url(kind: str, tmp: Path) -> AsyncIterator[str]:
    """``sqlite`` (a file in ``tmp``) or ``postgres`` (a fresh database)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'tesserra.db'}"
    else:
        async with postgres_database() as url:
            yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real app under uvicorn on 127.0.0.1, in this event loop, reached over real sockets."""

    def __init__(self, uc: UseCases, port: int) -> None:
        self.uc = uc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


@asynccontextmanager
async def live_server(settings: Settings, readiness: Any = None) -> AsyncIterator[LiveServer]:
    """``readiness``: a ``tesserra_http.readiness.Readiness`` the test drains (as the server's SIGTERM would)."""
    from tesserra_http import create_app
    from tesserra_http.protocol import BoundedHttpToolsProtocol

    async with running(settings) as uc:
        port = free_port()
        app: Any = create_app(
            uc, trusted_proxies=settings.trusted_proxies, proxy_header=settings.proxy_header, readiness=readiness
        )
        if uc.ports.tracer.enabled:  # as `tesserra serve` wraps it
            from tesserra_http.traced import TracedApp

            app = TracedApp(app, uc.ports.tracer)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            http=BoundedHttpToolsProtocol,  # as `tesserra serve` runs
            lifespan="on",
            proxy_headers=False,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        try:
            yield LiveServer(uc, port)
        finally:
            server.should_exit = True
            await task


def test_settings(tmp: Path, url: str, **overrides: object) -> Settings:
    """Settings of a test server; its DNS resolver asks the test DNS server of this process."""
    from tests.dns_server import loopback_dns

    overrides.setdefault("dns_resolvers", (loopback_dns().address,))
    overrides.setdefault("dns_timeout", 1.0)
    return Settings(data_dir=tmp, database_url=url, secret_key="t" * 48, **overrides)  # type: ignore[arg-type]


DOCKER_HOST = os.environ.get("TESSERRA_TEST_DOCKER_HOST", "unix:///var/run/docker.sock")
BUSYBOX_IMAGE = "tesserra-test/busybox:latest"
"""busybox-static and its applets (sh, cat, httpd, sleep, ...); built by scripts/build-test-images.sh."""
PYTHON_MCP_IMAGE = "tesserra-test/python-mcp:latest"
"""Debian + python3 with /opt/mcp (mcp, mcp-server-time): run ``/opt/mcp/bin/mcp-server-time`` over stdio."""


async def docker_image(image: str, host: str = DOCKER_HOST) -> str:
    """``image`` if the test Docker engine answers and has it; otherwise a skip naming how to get it."""
    import aiodocker
    from aiodocker.exceptions import DockerError

    client = aiodocker.Docker(url=host)
    try:
        try:
            await client.version()
        except Exception as exc:
            missing("Docker", f"{host} ({type(exc).__name__}); start dockerd or set TESSERRA_TEST_DOCKER_HOST")
        try:
            await client.images.inspect(image)
        except DockerError:
            missing(f"Docker image {image}", "build it with scripts/build-test-images.sh")
    finally:
        await client.close()
    return image


async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float = 10.0, every: float = 0.05) -> T:
    """The first truthy result of ``check()``, polled every ``every`` seconds; fails after ``within``."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"no result within {within} s (last: {result!r})")
        await asyncio.sleep(every)
