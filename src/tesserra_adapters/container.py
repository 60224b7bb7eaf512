"""dependency-injector containers: the real adapter set and the in-memory one, same provider names."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.catalog import CatalogFile
from tesserra_adapters.dns import DnspythonResolver, DnspythonZoneCodec
from tesserra_adapters.http_probe import MemoryHttpProbe, httpx_probe
from tesserra_adapters.memory.dns import MemoryResolver
from tesserra_adapters.memory.gateway import MemoryGateway
from tesserra_adapters.memory.limits import MemoryIdempotencyStore, MemoryRateLimiter
from tesserra_adapters.memory.oauth import MemoryOAuthServer
from tesserra_adapters.memory.storage import MemoryFileStorage
from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.oauth_client import HttpxOAuthClient, http_client
from tesserra_adapters.packages import LocalPackages
from tesserra_adapters.payments import payment_gateway
from tesserra_adapters.probes import DatabaseProbe, DockerProbe, StorageProbe
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_adapters.runtime.mounts import CONTAINER_USER
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_adapters.secret_box import AesGcmSecretBox
from tesserra_adapters.security import Argon2Hasher, HmacDigest, JwtIssuer
from tesserra_adapters.settings import Settings
from tesserra_adapters.shared_tools import FileSharedToolDirectory
from tesserra_adapters.sql import migrate
from tesserra_adapters.sql.engine import open_engine
from tesserra_adapters.sql.limits import SqlIdempotencyStore, SqlRateLimiter
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_adapters.storage import LocalFileStorage
from tesserra_adapters.system import SystemClock, SystemSecrets, UlidFactory
from tesserra_adapters.tool_client import McpToolConnector
from tesserra_adapters.workspaces import LocalWorkspaces, workspaces_root
from tesserra_core.ports.limits import RateLimiter
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.secrets_at_rest import SecretBox

if TYPE_CHECKING:
    from tesserra_adapters.runtime.docker import DockerRuntime
from tesserra_core.ports.shared_tools import SiteConfig
from tesserra_core.usecases.entitlements import StoredEntitlements

log = logging.getLogger("tesserra.runtime")


def subkey(secret: bytes, purpose: str) -> bytes:
    """An independent key per purpose, so a token key never doubles as a digest key."""
    return hmac.new(secret, f"tesserra/{purpose}".encode(), hashlib.sha256).digest()


async def migrated_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """The engine, with the schema brought to head first; disposed at shutdown."""
    engine = open_engine(url)
    try:
        await migrate.upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


async def rate_limiter(
    backend: str, engine: AsyncEngine, monotonic: Callable[[], float], redis_url: str
) -> AsyncIterator[RateLimiter]:
    """The configured limiter; a Redis client, when used, is closed at shutdown."""
    if backend == "redis":
        from redis.asyncio import Redis

        from tesserra_adapters.redis_store.limits import RedisRateLimiter

        client = Redis.from_url(redis_url)
        try:
            yield RedisRateLimiter(client)
        finally:
            await client.aclose()
    elif backend == "database":
        yield SqlRateLimiter(engine)
    elif backend == "memory":
        yield MemoryRateLimiter(monotonic)
    else:
        raise ValueError(f"TESSERRA_RATE_LIMIT_BACKEND must be memory, database or redis, not {backend!r}")


async def container_runtime(settings: Settings, box: SecretBox) -> AsyncIterator[ContainerRuntime]:
    """The configured workload runtime; the Docker client, when used, is closed at shutdown. Processes
    keep their environments (installations' secrets among them) sealed with ``box`` at rest, and run
    in a sandbox unless the operator opted out (``process_isolation``)."""
    kind, data_dir, docker_host = settings.runtime, settings.data_dir, settings.docker_host
    runtime: ProcessRuntime | DockerRuntime
    if kind == "process":
        sandbox = (
            Sandbox(settings.bwrap_path, settings.pasta_path) if settings.process_isolation == "bubblewrap" else None
        )
        if sandbox is not None:
            problem = await asyncio.to_thread(lambda: sandbox.problem)  # probed once, off the event loop
            if problem is not None:
                log.warning("process workloads will be refused (isolation_unavailable): %s", problem)
        runtime = ProcessRuntime(data_dir, box=box, sandbox=sandbox)
    elif kind == "docker":
        from tesserra_adapters.runtime.docker import DockerRuntime

        runtime = DockerRuntime(docker_host, mount_root=workspaces_root(data_dir))
    else:
        raise ValueError(f"TESSERRA_RUNTIME must be process or docker, not {kind!r}")
    try:
        yield runtime
    finally:
        await runtime.aclose()


async def memory_runtime() -> AsyncIterator[ContainerRuntime]:
    """Workloads as tasks; stopped at shutdown."""
    runtime = MemoryRuntime()
    try:
        yield runtime
    finally:
        await runtime.aclose()


class _Common(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    secret = providers.Singleton(lambda s: s.secret(), settings)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UlidFactory)
    secrets = providers.Singleton(SystemSecrets)
    digest = providers.Singleton(lambda k: HmacDigest(subkey(k, "digest")), secret)
    tokens = providers.Singleton(lambda k: JwtIssuer(subkey(k, "jwt")), secret)
    monotonic = providers.Callable(lambda c: c.monotonic, clock)
    """The clock's monotonic reading, for the in-process limiters (so tests that move the clock move them)."""
    secret_box = providers.Singleton(
        lambda k, s: AesGcmSecretBox.from_secrets(k, *(p.encode() for p in s.previous_secret_keys)), secret, settings
    )
    """AES-256-GCM in both containers: it is cheap, and a fake would hide a wrong context."""
    tool_connector = providers.Singleton(McpToolConnector)
    package_resolver = providers.Singleton(
        LocalPackages,
        settings.provided.data_dir,
        settings.provided.tool_script_dirs,
        settings.provided.tool_python_image,
    )
    catalog_source = providers.Singleton(CatalogFile, settings.provided.catalog_source)
    workspaces = providers.Singleton(
        lambda s: LocalWorkspaces(s.data_dir, CONTAINER_USER if s.runtime == "docker" else None), settings
    )
    """On Docker, workspaces belong to the user containers run as."""
    site = providers.Singleton(
        lambda s: SiteConfig(
            public_url=s.public_url, oauth_return_url=s.oauth_return_url, oauth_state_ttl_seconds=s.oauth_state_ttl
        ),
        settings,
    )
    shared_tools = providers.Singleton(lambda s: FileSharedToolDirectory(s.shared_tools_path), settings)
    zone_codec = providers.Singleton(DnspythonZoneCodec)


class RealAdapters(_Common):
    """SQLite or PostgreSQL by URL, argon2id, pyjwt, real probes."""

    engine = providers.Resource(migrated_engine, url=_Common.settings.provided.database_url)
    uow = providers.Singleton(SqlUnitOfWorkFactory, engine=engine)
    hasher = providers.Singleton(Argon2Hasher)
    rate_limiter = providers.Resource(
        rate_limiter,
        _Common.settings.provided.limiter,
        engine,
        _Common.monotonic,
        _Common.settings.provided.redis_url,
    )
    idempotency = providers.Singleton(SqlIdempotencyStore, engine=engine)
    http_probe = providers.Resource(httpx_probe)
    resolver = providers.Singleton(
        DnspythonResolver, _Common.settings.provided.dns_resolvers, _Common.settings.provided.dns_timeout
    )
    file_storage = providers.Singleton(
        LocalFileStorage,
        providers.Callable(lambda d: d / "files", _Common.settings.provided.data_dir),
        _Common.settings.provided.max_upload_bytes,
    )
    runtime = providers.Resource(
        container_runtime,
        _Common.settings,
        _Common.secret_box,
    )
    http = providers.Resource(http_client)
    oauth = providers.Singleton(HttpxOAuthClient, http)
    entitlements = providers.Singleton(StoredEntitlements, uow, _Common.clock)
    gateway = providers.Resource(payment_gateway, _Common.settings)
    probes = providers.List(
        providers.Singleton(DatabaseProbe, uow, providers.Callable(lambda e: e.dialect.name, engine)),
        providers.Singleton(StorageProbe, _Common.settings.provided.data_dir),
        providers.Singleton(DockerProbe, _Common.settings.provided.docker_host),
    )


class MemoryAdapters(_Common):
    """Everything in process: for unit tests and library users. Cheap argon2 parameters."""

    uow = providers.Singleton(MemoryUnitOfWorkFactory)
    hasher = providers.Singleton(Argon2Hasher, time_cost=1, memory_cost=1024)
    rate_limiter = providers.Singleton(MemoryRateLimiter, clock=_Common.monotonic)
    idempotency = providers.Singleton(MemoryIdempotencyStore, clock=_Common.monotonic)
    http_probe = providers.Singleton(MemoryHttpProbe)
    resolver = providers.Singleton(MemoryResolver)
    file_storage = providers.Singleton(MemoryFileStorage, _Common.settings.provided.max_upload_bytes)
    runtime = providers.Resource(memory_runtime)
    oauth = providers.Singleton(
        MemoryOAuthServer, clock=providers.Callable(lambda c: lambda: c.now().timestamp(), _Common.clock)
    )
    """An in-process authorization server (a provider that never leaves the process)."""
    entitlements = providers.Singleton(StoredEntitlements, uow, _Common.clock)
    gateway = providers.Singleton(MemoryGateway)
    probes = providers.List()
