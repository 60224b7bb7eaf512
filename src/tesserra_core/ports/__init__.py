"""The core's interfaces to the outside world (typing.Protocol). Adapters implement them; the
composition root hands one of each to the use cases as ``Ports``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tesserra_core.domain.infra_ssh import ActionCatalog
from tesserra_core.ports.audit_checkpoints import AuditCheckpoints
from tesserra_core.ports.billing import PaymentGateway
from tesserra_core.ports.dns import DnsResolver, ZoneCodec
from tesserra_core.ports.feed_push import FeedPush, NoPush
from tesserra_core.ports.files import FileStorage
from tesserra_core.ports.health import HttpProbe, Probe
from tesserra_core.ports.leases import RunnerLeases, SoleLeases
from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.mailer import Mailer, NoMailer
from tesserra_core.ports.models import ModelProvider
from tesserra_core.ports.nodes import ForeignWorkloads, Nodes, NoForeignWorkloads, NoNodes
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.security import PasswordHasher, ProxyTokenCodec, SecretDigest, TokenIssuer
from tesserra_core.ports.shared_tools import OAuthClient, SharedToolDirectory, SiteConfig
from tesserra_core.ports.ssh import SshClient
from tesserra_core.ports.ssh_certificates import KrlDistribution, SshCertificateAuthority, UserCaStore
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.ports.telemetry import NoTelemetry, Telemetry
from tesserra_core.ports.tools import CatalogSource, PackageResolver, ToolConnector, Workspaces
from tesserra_core.ports.tracing import NoTracer, Tracer


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the core needs from the outside world."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    digest: SecretDigest
    tokens: TokenIssuer
    proxy_tokens: ProxyTokenCodec
    clock: Clock
    ids: IdFactory
    secrets: SecretGenerator
    rate_limiter: RateLimiter
    idempotency: IdempotencyStore
    entitlements: Entitlements
    secret_box: SecretBox
    runtime: ContainerRuntime
    tool_connector: ToolConnector
    package_resolver: PackageResolver
    catalog_source: CatalogSource
    workspaces: Workspaces
    shared_tools: SharedToolDirectory
    oauth: OAuthClient
    site: SiteConfig
    http_probe: HttpProbe
    gateway: PaymentGateway
    zone_codec: ZoneCodec
    resolver: DnsResolver
    file_storage: FileStorage
    ssh: SshClient
    ssh_actions: ActionCatalog
    ssh_certificates: SshCertificateAuthority
    ssh_user_ca: UserCaStore
    ssh_krl: KrlDistribution
    audit_checkpoints: AuditCheckpoints
    models: ModelProvider
    probes: Sequence[Probe] = ()
    telemetry: Telemetry = field(default_factory=NoTelemetry)
    tracer: Tracer = field(default_factory=NoTracer)
    leases: RunnerLeases = field(default_factory=SoleLeases)
    revocation_push: FeedPush = field(default_factory=NoPush)
    nodes: Nodes = field(default_factory=NoNodes)
    foreign_workloads: ForeignWorkloads = field(default_factory=NoForeignWorkloads)
    mailer: Mailer = field(default_factory=NoMailer)
    node_id: str = "local"
    """This node's id (kept in its data dir): every worker of a node shares it."""
