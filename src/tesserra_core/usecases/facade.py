"""The use-case facade: every use case, built once from the ports. Drivers hold only this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from tesserra_core.domain.identity import Principal, TenantStatus
from tesserra_core.ports.health import Probe
from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.security import PasswordHasher, SecretDigest, TokenIssuer
from tesserra_core.ports.shared_tools import OAuthClient, SharedToolDirectory, SiteConfig
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.ports.tools import CatalogSource, PackageResolver, ToolConnector, Workspaces
from tesserra_core.usecases.api_keys import GenerateApiKey, ListApiKeys, RevokeApiKey
from tesserra_core.usecases.caching import CacheSet, TaggedCache
from tesserra_core.usecases.containers import ContainerLifecycle, GetContainer, ListContainers
from tesserra_core.usecases.credentials import (
    Authenticate,
    KeyUsage,
    RevocationWatcher,
    Revoker,
)
from tesserra_core.usecases.guards import Idempotency, Throttle
from tesserra_core.usecases.housekeeping import Housekeeping
from tesserra_core.usecases.installations import (
    CallInstallationTool,
    GetInstallation,
    InstallTool,
    ListInstallations,
    ListInstallationTools,
    RemoveInstallation,
    UpdateInstallation,
    UploadInstallationFiles,
)
from tesserra_core.usecases.integrations import ClientConfiguration, RecordClientSync
from tesserra_core.usecases.marketplace import (
    GetMarketplaceTool,
    GetRegistryEntry,
    ListRegistry,
    RefreshCatalog,
    SearchMarketplace,
)
from tesserra_core.usecases.operators import CreateAdmin, EnsureFirstOwner, MintKeyForUser
from tesserra_core.usecases.reconcile import ReconcileWorkloads
from tesserra_core.usecases.sessions import AuthPolicy, Login, Logout, Me, Refresh, TokenMinter
from tesserra_core.usecases.shared_tools import (
    AccessTokenFor,
    BeginOAuth,
    CompleteOAuth,
    ListSharedTools,
    OAuthStatus,
    OAuthUserEmail,
    Tools,
    Vault,
)
from tesserra_core.usecases.status import ServiceStatus
from tesserra_core.usecases.tenants import (
    CreateTenant,
    CurrentTenant,
    GetTenant,
    ListTenants,
    Onboard,
    SetTenantStatus,
    UpdateTenant,
)
from tesserra_core.usecases.tool_servers import SharedToolAccounts, ToolLimits, ToolServers
from tesserra_core.usecases.views import MeView

VERSION = "0.1.0"

REVOCATION_RETENTION = timedelta(hours=1)
"""Longer than any cached credential or view lives (an access token: 15 minutes), so purging older
revocations can never let a worker miss one that still matters."""


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the core needs from the outside world."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    digest: SecretDigest
    tokens: TokenIssuer
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
    probes: Sequence[Probe] = ()


class UseCases:
    """One attribute per use case. Built by the composition root; called by both drivers."""

    def __init__(
        self,
        ports: Ports,
        *,
        policy: AuthPolicy | None = None,
        rate_scale: float = 1.0,
        tool_limits: ToolLimits | None = None,
    ) -> None:
        p = ports
        policy = policy or AuthPolicy()
        if policy.access_ttl * 2 > REVOCATION_RETENTION:
            raise ValueError("access tokens must live well under the revocation retention")
        self.ports = p
        credentials: TaggedCache[Principal] = TaggedCache()
        profiles: TaggedCache[MeView] = TaggedCache()
        caches = CacheSet((credentials, profiles))
        usage = KeyUsage()
        revoker = Revoker(caches, p.clock)
        minter = TokenMinter(p.tokens, p.digest, p.secrets, p.ids, p.clock, policy)
        onboard = Onboard(p.uow, p.hasher, p.ids, p.clock, revoker)
        update_tenant = UpdateTenant(p.uow, revoker, p.clock)

        self.authenticate = Authenticate(p.uow, p.tokens, p.digest, p.clock, credentials, usage)
        self.throttle = Throttle(p.rate_limiter, scale=rate_scale)
        self.housekeeping = Housekeeping(
            p.uow,
            p.rate_limiter,
            p.idempotency,
            p.clock,
            retention=REVOCATION_RETENTION,
            idle_for=max(rule.window for rule in self.throttle.rules.values()),
        )
        self.revocations = RevocationWatcher(p.uow, caches, usage, p.clock, self.housekeeping)
        self.idempotency = Idempotency(p.idempotency)
        self.reconcile_workloads = ReconcileWorkloads(p.runtime)

        self.login = Login(p.uow, p.hasher, minter, p.clock, p.ids, policy)
        self.refresh = Refresh(p.uow, minter, p.digest, revoker, p.clock)
        self.logout = Logout(p.uow, revoker, p.clock)
        self.me = Me(p.uow, profiles, p.clock)

        self.generate_api_key = GenerateApiKey(p.uow, p.digest, p.secrets, p.ids, p.clock)
        self.list_api_keys = ListApiKeys(p.uow)
        self.revoke_api_key = RevokeApiKey(p.uow, revoker, p.clock)

        self.current_tenant = CurrentTenant(p.uow)
        self.list_tenants = ListTenants(p.uow)
        self.get_tenant = GetTenant(p.uow)
        self.create_tenant = CreateTenant(onboard)
        self.update_tenant = update_tenant
        self.suspend_tenant = SetTenantStatus(update_tenant, TenantStatus.SUSPENDED)
        self.reactivate_tenant = SetTenantStatus(update_tenant, TenantStatus.ACTIVE)

        self.service_status = ServiceStatus(p.probes, p.clock, p.clock.monotonic(), VERSION)

        self.create_admin = CreateAdmin(onboard)
        self.ensure_first_owner = EnsureFirstOwner(p.uow, self.create_admin)
        self.mint_key_for_user = MintKeyForUser(p.uow, self.generate_api_key)

        tools, vault = Tools(p.shared_tools), Vault(p.secret_box)
        self.list_shared_tools = ListSharedTools(tools, p.uow)
        self.begin_oauth = BeginOAuth(tools, p.uow, p.secret_box, p.digest, p.secrets, p.ids, p.clock, p.site)
        self.complete_oauth = CompleteOAuth(tools, p.uow, p.secret_box, vault, p.digest, p.oauth, p.clock, p.site)
        self.oauth_status = OAuthStatus(tools, p.uow, p.clock)
        self.oauth_access_token = AccessTokenFor(tools, p.uow, vault, p.oauth, p.clock)
        """For the server's own tool sessions: a valid access token of a user's linked account."""
        self.oauth_user_email = OAuthUserEmail(tools, p.uow, p.oauth, self.oauth_access_token)

        limits = tool_limits or ToolLimits()
        self.tool_servers = ToolServers(
            p.uow,
            p.runtime,
            p.tool_connector,
            p.package_resolver,
            p.secret_box,
            p.workspaces,
            SharedToolAccounts(self.oauth_access_token),
            p.clock,
            limits,
        )
        self.search_marketplace = SearchMarketplace(p.uow)
        self.get_marketplace_tool = GetMarketplaceTool(p.uow)
        self.list_registry = ListRegistry(p.uow)
        self.get_registry_entry = GetRegistryEntry(p.uow)
        self.refresh_catalog = RefreshCatalog(p.uow, p.catalog_source)
        self.install_tool = InstallTool(p.uow, p.entitlements, p.secret_box, self.tool_servers, p.ids, p.clock)
        self.list_installations = ListInstallations(p.uow)
        self.get_installation = GetInstallation(p.uow)
        self.update_installation = UpdateInstallation(p.uow, p.secret_box, self.tool_servers, p.clock)
        self.remove_installation = RemoveInstallation(p.uow, self.tool_servers, p.workspaces)
        self.list_installation_tools = ListInstallationTools(p.uow)
        self.call_installation_tool = CallInstallationTool(p.uow, self.tool_servers)
        self.upload_installation_files = UploadInstallationFiles(
            p.uow, p.workspaces, limits.upload_max_file, limits.upload_max_total
        )
        self.list_containers = ListContainers(p.runtime)
        self.get_container = GetContainer(p.runtime)
        self.container_action = ContainerLifecycle(p.runtime, self.tool_servers)

        self.client_configuration = ClientConfiguration(p.uow, p.site)
        self.record_client_sync = RecordClientSync(p.uow, p.ids, p.clock)
