"""The composition root: settings -> ports -> the use-case facade.

Two typed functions build the core's ``Ports``: ``real_ports`` (SQLite or PostgreSQL, argon2id,
pyjwt, real probes) and ``memory_ports`` (everything in process, for unit tests and library users).
What must be released (the engine, a Redis client, HTTP clients, the Docker client, the workload
runtime) is entered on the caller's ``AsyncExitStack`` and released, in reverse order, when it
closes. Tests swap an adapter by keyword, and every adapter built from it follows:
``memory_ports(settings, stack, clock=FakeClock(), runtime=DockerRuntime(...))``; what a caller
passes in stays the caller's to close.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.audit_checkpoints import FileAuditCheckpoints, MemoryAuditCheckpoints
from tesserra_adapters.catalog import CatalogFile
from tesserra_adapters.dns_on_demand import OnDemandResolver, OnDemandZoneCodec
from tesserra_adapters.http_probe import MemoryHttpProbe, httpx_probe
from tesserra_adapters.memory.dns import MemoryResolver
from tesserra_adapters.memory.gateway import MemoryGateway
from tesserra_adapters.memory.leases import MemoryRunnerLeases
from tesserra_adapters.memory.limits import MemoryIdempotencyStore, MemoryRateLimiter
from tesserra_adapters.memory.mailer import MemoryMailer
from tesserra_adapters.memory.nodes import MemoryNodes
from tesserra_adapters.memory.oauth import MemoryOAuthServer
from tesserra_adapters.memory.ssh import MemorySshClient
from tesserra_adapters.memory.storage import MemoryFileStorage
from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.models import NoModel, OpenAiCompatible
from tesserra_adapters.oauth_client import HttpxOAuthClient, http_client
from tesserra_adapters.outbound import on_demand_client
from tesserra_adapters.packages import LocalPackages
from tesserra_adapters.payments import payment_gateway
from tesserra_adapters.probes import DatabaseProbe, DockerProbe, SandboxProbe, StorageProbe
from tesserra_adapters.runtime.foreign import SameMachineProcesses, hold_node_lock
from tesserra_adapters.runtime.memory import MemoryRuntime
from tesserra_adapters.runtime.mounts import CONTAINER_USER
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.process_children import boot_id
from tesserra_adapters.runtime.recorded import NodeRecordedRuntime
from tesserra_adapters.runtime.sandbox import Sandbox, pasta_version
from tesserra_adapters.secret_box import AesGcmSecretBox
from tesserra_adapters.security import Argon2Hasher, HmacDigest, HmacProxyTokens, JwtIssuer
from tesserra_adapters.settings import Settings
from tesserra_adapters.shared_tools import FileSharedToolDirectory
from tesserra_adapters.smtp import SmtpMailer
from tesserra_adapters.sql import migrate
from tesserra_adapters.sql.deployment import deployment_id
from tesserra_adapters.sql.engine import open_engine
from tesserra_adapters.sql.feed_push import PgFeedPush
from tesserra_adapters.sql.leases import SqlRunnerLeases
from tesserra_adapters.sql.limits import SqlIdempotencyStore, SqlRateLimiter
from tesserra_adapters.sql.nodes import SqlNodes
from tesserra_adapters.sql.ssh_user_ca import SqlUserCa
from tesserra_adapters.sql.storage import DatabaseFileStorage
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_adapters.ssh.certificates import AsyncsshCertificateAuthority, KrlFiles, SealedCaFile
from tesserra_adapters.ssh.client import AsyncsshClient
from tesserra_adapters.storage import LocalFileStorage
from tesserra_adapters.system import SystemClock, SystemSecrets, UlidFactory
from tesserra_adapters.tool_connector import McpToolConnector
from tesserra_adapters.workspaces import LocalWorkspaces, workspaces_root
from tesserra_core.domain.infra_ssh import ActionCatalog, load_catalog, shipped_catalog
from tesserra_core.facade import UseCases, use_cases
from tesserra_core.ports import Ports
from tesserra_core.ports.audit_checkpoints import AuditCheckpoints
from tesserra_core.ports.billing import PaymentGateway
from tesserra_core.ports.dns import DnsResolver
from tesserra_core.ports.feed_push import FeedPush, NoPush
from tesserra_core.ports.files import FileStorage
from tesserra_core.ports.health import HttpProbe, Probe
from tesserra_core.ports.leases import RunnerLeases
from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.mailer import Mailer, NoMailer
from tesserra_core.ports.models import ModelProvider
from tesserra_core.ports.nodes import ForeignWorkloads, Nodes, NoForeignWorkloads
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.security import PasswordHasher
from tesserra_core.ports.shared_tools import OAuthClient, SiteConfig
from tesserra_core.ports.ssh import SshClient
from tesserra_core.ports.system import Clock
from tesserra_core.ports.telemetry import NoTelemetry, Telemetry
from tesserra_core.ports.tracing import NoTracer, Tracer
from tesserra_core.usecases.entitlements import StoredEntitlements

if TYPE_CHECKING:
    from tesserra_adapters.runtime.docker import DockerRuntime

log = logging.getLogger("tesserra.runtime")


def subkey(secret: bytes, purpose: str) -> bytes:
    """An independent key per purpose, so a token key never doubles as a digest key."""
    return hmac.new(secret, f"tesserra/{purpose}".encode(), hashlib.sha256).digest()


def ssh_actions_from(settings: Settings) -> ActionCatalog:
    """Infra SSH's named actions: the operator's catalog file, or the one shipped."""
    if settings.ssh_actions_file is None:
        return shipped_catalog()
    return load_catalog(settings.ssh_actions_file.read_bytes())


def secret_box_from(settings: Settings) -> SecretBox:
    """AES-256-GCM in both adapter sets: it is cheap, and a fake would hide a wrong context. Values
    sealed under a key kept in TESSERRA_PREVIOUS_SECRET_KEYS still open."""
    return AesGcmSecretBox.from_secrets(settings.secret(), *(k.encode() for k in settings.previous_secret_keys))


# -- resources: each released when the stack it was entered on closes -------------------------------


@asynccontextmanager
async def migrated_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """The engine, with the schema brought to head first; disposed at shutdown."""
    engine = open_engine(url)
    try:
        await migrate.upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
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


def process_sandbox(settings: Settings) -> Sandbox | None:
    """The process runtime's sandbox, unless workloads run elsewhere or the operator opted out."""
    if settings.runtime != "process" or settings.process_isolation != "bubblewrap":
        return None
    return Sandbox(settings.bwrap_path, settings.pasta_path)


@asynccontextmanager
async def container_runtime(
    settings: Settings, box: SecretBox, sandbox: Sandbox | None = None, *, deployment: str = ""
) -> AsyncIterator[ContainerRuntime]:
    """The configured workload runtime; the Docker client, when used, is closed at shutdown. Processes
    keep their environments (installations' secrets among them) sealed with ``box`` at rest, and run
    in ``sandbox`` (``process_sandbox``) unless the operator opted out (``process_isolation``). Docker
    containers carry ``deployment`` (the database's ``deployment_id``): the engine may be shared."""
    kind, data_dir, docker_host = settings.runtime, settings.data_dir, settings.docker_host
    runtime: ProcessRuntime | DockerRuntime
    if kind == "process":
        if sandbox is not None:
            problem = await asyncio.to_thread(lambda: sandbox.problem)  # probed once, off the event loop
            if problem is not None:
                log.warning("process workloads will be refused (isolation_unavailable): %s", problem)
            else:
                version = await asyncio.to_thread(pasta_version, sandbox.pasta)
                log.info(
                    "process workloads run under bubblewrap, their network through %s (%s)", version, sandbox.pasta
                )
        runtime = ProcessRuntime(data_dir, box=box, sandbox=sandbox)
    elif kind == "docker":
        from tesserra_adapters.runtime.docker import DockerRuntime

        runtime = DockerRuntime(
            docker_host,
            mount_root=workspaces_root(data_dir),
            host_guard=settings.docker_host_guard,
            deployment=deployment,
        )
    else:
        raise ValueError(f"TESSERRA_RUNTIME must be process or docker, not {kind!r}")
    try:
        yield runtime
    finally:
        await runtime.aclose()


@asynccontextmanager
async def model_provider(settings: Settings, tracer: Tracer | None = None) -> AsyncIterator[ModelProvider]:
    """The configured OpenAI-compatible server (its HTTP client made on first use, closed at shutdown;
    its calls carry ``tracer``'s trace context), or ``NoModel`` when TESSERRA_MODEL_BASE_URL is unset."""
    if not settings.model_base_url:
        yield NoModel()
        return
    options = {"timeout": settings.model_timeout, "follow_redirects": False, "trust_env": False}
    async with on_demand_client(tracer, **options) as client:
        yield OpenAiCompatible(
            client,
            settings.model_base_url,
            api_key=settings.model_api_key,
            model=settings.model,
            stream_tools=settings.model_stream_tools,
        )


def file_storage(settings: Settings, engine: AsyncEngine) -> FileStorage:
    """Project files in the shared database (every node reads what any node stored), or in this node's
    data dir (TESSERRA_FILE_STORAGE; by default the database on PostgreSQL, the directory on SQLite)."""
    if settings.file_store == "database":
        return DatabaseFileStorage(engine, settings.max_upload_bytes)
    return LocalFileStorage(settings.data_dir / "files", settings.max_upload_bytes)


# -- the two adapter sets ----------------------------------------------------------------------------


async def real_ports(settings: Settings, stack: AsyncExitStack, *, metrics: bool = False) -> Ports:
    """SQLite or PostgreSQL by URL, argon2id, pyjwt, real probes; the resources on ``stack``. With
    ``metrics`` (and a metrics token set), Prometheus telemetry into the run's directory."""
    clock = SystemClock()
    box = secret_box_from(settings)
    engine = await stack.enter_async_context(migrated_engine(settings.database_url))
    telemetry = _telemetry(engine) if metrics and settings.metrics_token else NoTelemetry()
    tracer = _tracer(settings, engine, stack)
    push = PgFeedPush(engine.url) if engine.dialect.name == "postgresql" else None
    node_id = settings.node_id()
    stack.enter_context(hold_node_lock(settings.data_dir))
    nodes = SqlNodes(
        engine, data_dir=str(settings.data_dir), boot_id=settings.boot_id or boot_id(), url=settings.advertised_url
    )
    leases = SqlRunnerLeases(engine, nodes=nodes)  # the heartbeat rides on the lease claims
    uow = SqlUnitOfWorkFactory(engine=engine)
    limiter = rate_limiter(settings.limiter, engine, clock.monotonic, settings.redis_url)
    sandbox = process_sandbox(settings)
    return _ports(
        settings,
        clock=clock,
        uow=uow,
        hasher=Argon2Hasher(),
        rate_limiter=await stack.enter_async_context(limiter),
        idempotency=SqlIdempotencyStore(engine=engine),
        entitlements=StoredEntitlements(uow, clock),
        secret_box=box,
        runtime=NodeRecordedRuntime(
            await stack.enter_async_context(
                container_runtime(settings, box, sandbox, deployment=await deployment_id(engine))
            ),
            nodes,
            node_id,
        ),
        http_probe=await stack.enter_async_context(httpx_probe(tracer)),
        oauth=HttpxOAuthClient(await stack.enter_async_context(http_client(tracer=tracer))),
        gateway=await stack.enter_async_context(payment_gateway(settings)),
        resolver=OnDemandResolver(settings.dns_resolvers, settings.dns_timeout),
        file_storage=file_storage(settings, engine),
        ssh=AsyncsshClient(),
        audit_checkpoints=FileAuditCheckpoints(settings.audit_checkpoint_path),
        mailer=_mailer(settings),
        models=await stack.enter_async_context(model_provider(settings, tracer)),
        probes=(
            DatabaseProbe(uow, engine.dialect.name),
            StorageProbe(settings.data_dir),
            DockerProbe(settings.docker_host),
            *((SandboxProbe(sandbox),) if sandbox is not None else ()),
        ),
        telemetry=telemetry,
        tracer=tracer,
        leases=leases,
        revocation_push=push,
        nodes=nodes,
        node_id=node_id,
        foreign_workloads=SameMachineProcesses(box, settings.boot_id or boot_id()),
        engine=engine,
    )


def _tracer(settings: Settings, engine: AsyncEngine, stack: AsyncExitStack) -> Tracer:
    """OpenTelemetry tracing when an OTLP endpoint is configured (its spans flushed when ``stack``
    closes, its statements traced on ``engine``), else none and the SDK stays unimported."""
    endpoint = settings.otel_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return NoTracer()
    from tesserra_adapters.tracing import OtelTracer

    tracer = OtelTracer(endpoint, node=settings.node_id())
    tracer.trace_statements(engine)
    stack.push_async_callback(asyncio.to_thread, tracer.shutdown)  # its last export must not block the loop
    return tracer


def _telemetry(engine: AsyncEngine) -> Telemetry:
    """Prometheus telemetry, with the engine's pool counted as its connections come and go."""
    from sqlalchemy import event

    from tesserra_adapters.metrics import PrometheusTelemetry

    telemetry = PrometheusTelemetry()
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    telemetry.pool_limit(size() if callable(size) else 1)
    event.listen(engine.sync_engine, "checkout", lambda *_: telemetry.connection_checked_out())
    event.listen(engine.sync_engine, "checkin", lambda *_: telemetry.connection_checked_in())
    return telemetry


METRICS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""Where prometheus-client's multiprocess mode keeps every process's samples; read when it is imported."""


def prepare_metrics(settings: Settings) -> bool:
    """Before the workers start: this run's empty metrics directory (a previous run's samples dropped),
    named to every process started from here on, if metrics are on (a token set)."""
    if not settings.metrics_token:
        return False
    directory = settings.data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    settings.prepare_data_dir()
    directory.mkdir(mode=0o700)
    os.environ[METRICS_DIRECTORY_VARIABLE] = str(directory)
    return True


def forget_worker_metrics(pid: int) -> None:
    """A worker that wrote metrics died: its live gauges (connections in use) stop counting; its counters
    stay, as counters must."""
    directory = os.environ.get(METRICS_DIRECTORY_VARIABLE)
    if directory:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def memory_ports(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    clock: Clock | None = None,
    uow: UnitOfWorkFactory | None = None,
    runtime: ContainerRuntime | None = None,
    entitlements: Entitlements | None = None,
    gateway: PaymentGateway | None = None,
    secret_box: SecretBox | None = None,
    ssh: SshClient | None = None,
    models: ModelProvider | None = None,
) -> Ports:
    """Everything in process, cheap argon2 parameters; the keywords replace one adapter each (the
    limiters, the idempotency store, the OAuth server and the entitlements follow ``clock``, the
    entitlements ``uow``). Only the memory runtime, when made here, is released by ``stack``."""
    clock = SystemClock() if clock is None else clock
    uow = MemoryUnitOfWorkFactory() if uow is None else uow
    if runtime is None:
        runtime = MemoryRuntime()
        stack.push_async_callback(runtime.aclose)  # workloads as tasks, stopped at shutdown
    return _ports(
        settings,
        clock=clock,
        uow=uow,
        hasher=Argon2Hasher(time_cost=1, memory_cost=1024),
        rate_limiter=MemoryRateLimiter(clock=clock.monotonic),
        idempotency=MemoryIdempotencyStore(clock=clock.monotonic),
        entitlements=StoredEntitlements(uow, clock) if entitlements is None else entitlements,
        secret_box=secret_box_from(settings) if secret_box is None else secret_box,
        runtime=runtime,
        http_probe=MemoryHttpProbe(),
        # an in-process authorization server (a provider that never leaves the process)
        oauth=MemoryOAuthServer(clock=lambda: clock.now().timestamp()),
        gateway=MemoryGateway() if gateway is None else gateway,
        resolver=MemoryResolver(),
        file_storage=MemoryFileStorage(settings.max_upload_bytes),
        ssh=MemorySshClient() if ssh is None else ssh,
        audit_checkpoints=MemoryAuditCheckpoints(),
        mailer=MemoryMailer(),
        models=NoModel() if models is None else models,
        probes=(),
    )


def _ports(
    settings: Settings,
    *,
    clock: Clock,
    uow: UnitOfWorkFactory,
    hasher: PasswordHasher,
    rate_limiter: RateLimiter,
    idempotency: IdempotencyStore,
    entitlements: Entitlements,
    secret_box: SecretBox,
    runtime: ContainerRuntime,
    http_probe: HttpProbe,
    oauth: OAuthClient,
    gateway: PaymentGateway,
    resolver: DnsResolver,
    file_storage: FileStorage,
    ssh: SshClient,
    audit_checkpoints: AuditCheckpoints,
    mailer: Mailer,
    models: ModelProvider,
    probes: Sequence[Probe],
    telemetry: Telemetry | None = None,
    tracer: Tracer | None = None,
    leases: RunnerLeases | None = None,
    revocation_push: FeedPush | None = None,
    nodes: Nodes | None = None,
    node_id: str = "local",
    foreign_workloads: ForeignWorkloads | None = None,
    engine: AsyncEngine | None = None,
) -> Ports:
    """The ports, with the adapters both sets share built from the settings (``engine``: the real set's
    database, where the SSH user CA is kept; without one, a file in the data dir)."""
    key = settings.secret()
    authority = AsyncsshCertificateAuthority()
    ca_file = settings.data_dir / "ssh" / "user_ca.sealed"  # the CA itself, when there is no database
    return Ports(  # the set's own adapters (passed in) alternate with the shared ones (built here)
        uow=uow,
        digest=HmacDigest(subkey(key, "digest")),
        hasher=hasher,
        tokens=JwtIssuer(subkey(key, "jwt")),
        proxy_tokens=HmacProxyTokens(subkey(key, "sandbox-proxy")),
        clock=clock,
        ids=UlidFactory(),
        rate_limiter=rate_limiter,
        secrets=SystemSecrets(),
        idempotency=idempotency,
        tool_connector=McpToolConnector(),
        entitlements=entitlements,
        zone_codec=OnDemandZoneCodec(),
        secret_box=secret_box,
        package_resolver=LocalPackages(settings.data_dir, settings.tool_script_dirs, settings.tool_python_image),
        runtime=runtime,
        catalog_source=CatalogFile(settings.catalog_source, tracer=tracer),
        oauth=oauth,
        # on Docker, workspaces belong to the user containers run as
        workspaces=LocalWorkspaces(settings.data_dir, CONTAINER_USER if settings.runtime == "docker" else None),
        http_probe=http_probe,
        shared_tools=FileSharedToolDirectory(settings.shared_tools_path),
        gateway=gateway,
        site=_site(settings),
        resolver=resolver,
        file_storage=file_storage,
        ssh=ssh,
        ssh_actions=ssh_actions_from(settings),
        ssh_certificates=authority,
        ssh_user_ca=(
            SealedCaFile(ca_file, secret_box, authority)
            if engine is None
            else SqlUserCa(engine, secret_box, authority, legacy=ca_file)
        ),
        # the operator syncs <data_dir>/ssh/krl/<tenant>/<host>.krl to each host's RevokedKeys path
        ssh_krl=KrlFiles.under(settings.data_dir / "ssh" / "krl"),
        audit_checkpoints=audit_checkpoints,
        mailer=mailer,
        models=models,
        probes=probes,
        telemetry=telemetry or NoTelemetry(),
        tracer=tracer or NoTracer(),
        leases=leases or MemoryRunnerLeases(clock=lambda: clock.now().timestamp()),
        revocation_push=revocation_push or NoPush(),
        nodes=nodes or MemoryNodes(clock=lambda: clock.now().timestamp()),
        node_id=node_id,
        foreign_workloads=foreign_workloads or NoForeignWorkloads(),
    )


def _mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is None:
        return NoMailer()
    authorities = ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else None
    return SmtpMailer(settings.smtp_url, settings.mail_from, tls=authorities)


def _site(settings: Settings) -> SiteConfig:
    return SiteConfig(
        public_url=settings.public_url,
        oauth_return_url=settings.oauth_return_url,
        oauth_state_ttl_seconds=settings.oauth_state_ttl,
    )


# -- the facade --------------------------------------------------------------------------------------


async def build(ports: Ports, settings: Settings) -> UseCases:
    """The facade over ``ports``, with the tool catalog loaded."""
    # node@host/pid, after any fork: each worker is a holder of its own, on its node
    holder = f"{ports.node_id}@{socket.gethostname()}/{os.getpid()}"
    uc = use_cases(
        ports,
        rate_scale=settings.rate_limit_scale,
        holder=holder,
        sandbox_pool_size=settings.sandbox_pool_size,
        approval_timeout=settings.chat_approval_timeout,
        node_dead_after=settings.node_timeout,
    )
    await uc.marketplace.refresh_catalog.ensure_loaded()
    return uc


@asynccontextmanager
async def running(settings: Settings, *, memory: bool = False, metrics: bool = False) -> AsyncIterator[UseCases]:
    """The facade for the life of the block; the adapters' resources are released at its end. ``metrics``:
    a server's worker, which measures itself when a metrics token is set (``prepare_metrics`` first)."""
    settings.prepare_data_dir()
    async with AsyncExitStack() as stack:
        ports = memory_ports(settings, stack) if memory else await real_ports(settings, stack, metrics=metrics)
        yield await build(ports, settings)


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """``tesserra db upgrade``: bring the configured database's schema to ``revision``."""
    from tesserra_adapters.sql.migrate import upgrade_url

    upgrade_url(settings.database_url, revision)
