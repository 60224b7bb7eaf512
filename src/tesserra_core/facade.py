"""The facade: every use case and every runner, built once from the ports. Drivers hold only this,
call its use cases, and enter ``running`` once for the background work they need."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from tesserra_core.domain.identity import Principal, TenantStatus
from tesserra_core.ports.billing import PaymentGateway
from tesserra_core.ports.dns import DnsResolver, ZoneCodec
from tesserra_core.ports.files import FileStorage
from tesserra_core.ports.health import HttpProbe, Probe
from tesserra_core.ports.limits import IdempotencyStore, RateLimiter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.security import PasswordHasher, SecretDigest, TokenIssuer
from tesserra_core.ports.shared_tools import OAuthClient, SharedToolDirectory, SiteConfig
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.ports.tools import CatalogSource, PackageResolver, ToolConnector, Workspaces
from tesserra_core.runners.billing_retries import RetryEvents
from tesserra_core.runners.housekeeping import Housekeeping
from tesserra_core.runners.provisioner import Provisioner
from tesserra_core.runners.revocation_watcher import RevocationWatcher
from tesserra_core.runners.tool_servers import SharedToolAccounts, ToolLimits, ToolServers
from tesserra_core.usecases.api_keys import GenerateApiKey, ListApiKeys, RevokeApiKey
from tesserra_core.usecases.billing_events import ProcessEvent, ReceiveWebhook
from tesserra_core.usecases.billing_plans import (
    AddPrice,
    AdminGetPlan,
    AdminListPlans,
    ArchivePrice,
    CreatePlan,
    ListPlans,
    SyncPlan,
    UpdatePlan,
)
from tesserra_core.usecases.caching import CacheSet, Evicts, TaggedCache
from tesserra_core.usecases.containers import ContainerLifecycle, GetContainer, ListContainers
from tesserra_core.usecases.credentials import Authenticate, KeyUsage, Revoker
from tesserra_core.usecases.domains import (
    CreateDomain,
    DeleteDomain,
    DomainHealthSource,
    GetDomain,
    ListDomains,
    UpdateDomain,
    VerifyDomain,
    ZoneEditor,
)
from tesserra_core.usecases.files import (
    DeleteProjectFile,
    DownloadProjectFile,
    ListProjectFiles,
    UploadProjectFile,
)
from tesserra_core.usecases.finance import Churn, CountSubscriptions, ListInvoices, Recurring, Revenue
from tesserra_core.usecases.guards import Idempotency, Throttle
from tesserra_core.usecases.health import (
    HealthSource,
    ProjectHealth,
    ResourceChecks,
    ResourceHealthSource,
    TenantHealth,
)
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
from tesserra_core.usecases.mail import (
    CreateEmailAlias,
    CreateMailbox,
    DeleteEmailAlias,
    DeleteMailbox,
    GetEmailAlias,
    GetMailbox,
    ListEmailAliases,
    ListMailboxes,
    ResetMailboxPassword,
    UpdateEmailAlias,
    UpdateMailbox,
)
from tesserra_core.usecases.marketplace import (
    GetMarketplaceTool,
    GetRegistryEntry,
    ListRegistry,
    RefreshCatalog,
    SearchMarketplace,
)
from tesserra_core.usecases.operators import CreateAdmin, EnsureFirstOwner, MintKeyForUser
from tesserra_core.usecases.projects import (
    CreateProject,
    DeleteProject,
    GetProject,
    ListCatalog,
    ListProjects,
    UpdateProject,
)
from tesserra_core.usecases.reconcile import ReconcileWorkloads
from tesserra_core.usecases.resources import (
    CreateResource,
    DeleteResource,
    GetResource,
    ListResources,
    UpdateResource,
)
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
from tesserra_core.usecases.subscriptions import BillingPortal, CancelSubscription, GetSubscription, StartCheckout
from tesserra_core.usecases.tenants import (
    CreateTenant,
    CurrentTenant,
    GetTenant,
    ListTenants,
    Onboard,
    SetTenantStatus,
    UpdateTenant,
)
from tesserra_core.usecases.views import MeView
from tesserra_core.usecases.zones import (
    CreateDnsRecord,
    DeleteDnsRecord,
    ExportZone,
    ImportZone,
    ListDnsRecords,
    UpdateDnsRecord,
)

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
    http_probe: HttpProbe
    gateway: PaymentGateway
    zone_codec: ZoneCodec
    resolver: DnsResolver
    file_storage: FileStorage
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
        entitlement_cache = (p.entitlements,) if isinstance(p.entitlements, Evicts) else ()
        caches = CacheSet((credentials, profiles, *entitlement_cache))
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
            idle_for=max(policy.lockout_for.total_seconds(), *(rule.window for rule in self.throttle.rules.values())),
        )
        self.revocations = RevocationWatcher(p.uow, caches, usage, p.clock, self.housekeeping)
        self.idempotency = Idempotency(p.idempotency)
        self.reconcile_workloads = ReconcileWorkloads(p.runtime)

        self.login = Login(p.uow, p.hasher, minter, p.clock, p.ids, policy, p.rate_limiter, p.digest)
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

        self.provisioner = Provisioner(p.uow, p.runtime, p.clock)
        provisioner = self.provisioner
        self.list_catalog = ListCatalog()
        self.list_projects = ListProjects(p.uow)
        self.get_project = GetProject(p.uow)
        self.create_project = CreateProject(p.uow, p.entitlements, p.ids, p.clock)
        self.update_project = UpdateProject(p.uow, p.clock)
        self.delete_project = DeleteProject(p.uow, provisioner, p.file_storage)
        self.list_resources = ListResources(p.uow)
        self.get_resource = GetResource(p.uow)
        self.create_resource = CreateResource(p.uow, p.entitlements, provisioner, p.ids, p.clock)
        self.update_resource = UpdateResource(p.uow, p.entitlements, provisioner, p.clock)
        self.delete_resource = DeleteResource(p.uow, provisioner, p.clock)
        checks = ResourceChecks(p.runtime, p.http_probe, p.clock)
        self.project_health = ProjectHealth(p.uow, checks, p.clock)
        health_sources: list[HealthSource] = [
            ResourceHealthSource(p.uow, checks),
            DomainHealthSource(p.uow, p.resolver, p.clock),
        ]
        # Other areas append their HealthSource here (the domains' DNS status).
        self.tenant_health = TenantHealth(health_sources, p.clock)

        zones = ZoneEditor(p.uow, p.clock)
        self.list_domains = ListDomains(p.uow)
        self.get_domain = GetDomain(p.uow)
        self.create_domain = CreateDomain(p.uow, p.entitlements, p.ids, p.secrets, p.clock)
        self.update_domain = UpdateDomain(zones)
        self.delete_domain = DeleteDomain(p.uow)
        self.verify_domain = VerifyDomain(p.uow, p.resolver, p.clock)
        self.list_dns_records = ListDnsRecords(p.uow)
        self.create_dns_record = CreateDnsRecord(zones, p.zone_codec, p.ids)
        self.update_dns_record = UpdateDnsRecord(zones, p.zone_codec)
        self.delete_dns_record = DeleteDnsRecord(zones)
        self.export_zone = ExportZone(p.uow, p.zone_codec)
        self.import_zone = ImportZone(zones, p.zone_codec, p.ids)

        self.list_mailboxes = ListMailboxes(p.uow)
        self.get_mailbox = GetMailbox(p.uow)
        self.create_mailbox = CreateMailbox(p.uow, p.hasher, p.entitlements, p.ids, p.clock)
        self.update_mailbox = UpdateMailbox(p.uow, p.clock)
        self.reset_mailbox_password = ResetMailboxPassword(p.uow, p.hasher, p.clock)
        self.delete_mailbox = DeleteMailbox(p.uow)
        self.list_email_aliases = ListEmailAliases(p.uow)
        self.get_email_alias = GetEmailAlias(p.uow)
        self.create_email_alias = CreateEmailAlias(p.uow, p.ids, p.clock)
        self.update_email_alias = UpdateEmailAlias(p.uow, p.clock)
        self.delete_email_alias = DeleteEmailAlias(p.uow)

        self.upload_project_file = UploadProjectFile(p.uow, p.file_storage, p.entitlements, p.ids, p.clock)
        self.list_project_files = ListProjectFiles(p.uow)
        self.download_project_file = DownloadProjectFile(p.uow, p.file_storage)
        self.delete_project_file = DeleteProjectFile(p.uow, p.file_storage)

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
        self.list_plans = ListPlans(p.uow)
        self.admin_list_plans = AdminListPlans(p.uow)
        self.admin_get_plan = AdminGetPlan(p.uow)
        self.create_plan = CreatePlan(p.uow, p.ids, p.clock)
        self.update_plan = UpdatePlan(p.uow, p.clock)
        self.add_price = AddPrice(p.uow, p.ids, p.clock)
        self.archive_price = ArchivePrice(p.uow, p.clock)
        self.sync_plan = SyncPlan(p.uow, p.gateway, p.clock)

        self.start_checkout = StartCheckout(p.uow, p.gateway, p.clock)
        self.get_subscription = GetSubscription(p.uow)
        self.cancel_subscription = CancelSubscription(p.uow, p.gateway, p.clock, revoker)
        self.billing_portal = BillingPortal(p.uow, p.gateway)
        self.process_billing_event = ProcessEvent(p.uow, p.gateway, p.clock, revoker)
        self.receive_webhook = ReceiveWebhook(p.uow, p.gateway, p.clock, self.process_billing_event)
        self.retry_billing_events = RetryEvents(p.uow, self.process_billing_event, p.clock)

        self.finance_recurring = Recurring(p.uow)
        self.finance_subscriptions = CountSubscriptions(p.uow)
        self.finance_revenue = Revenue(p.uow, p.clock)
        self.finance_churn = Churn(p.uow, p.clock)
        self.finance_invoices = ListInvoices(p.uow)

    @contextlib.asynccontextmanager
    async def running(self, *, guest: bool = False) -> AsyncIterator[None]:
        """The background runners for the life of the block, started in order and stopped in reverse:
        the revocation watcher (with housekeeping), billing retries, the provisioner, the tool servers.

        Every driver enters this once. A server runs them all; a ``guest`` (the MCP stdio command,
        which shares the store with a running server) only watches revocations and closes the tool
        servers it started: reconciling workloads and retrying billing events are the server's."""
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.revocations.watching())
            if not guest:
                await stack.enter_async_context(self.retry_billing_events.running())
                await stack.enter_async_context(self.provisioner.running())
            await stack.enter_async_context(self.tool_servers.running(reconcile=not guest))
            yield
