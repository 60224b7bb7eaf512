"""In-memory unit of work: the store (every table as a dict) and a unit of work over it, with
rollback by an undo log.

For unit tests and library users. It passes the same contract suite as the SQL adapter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from tesserra_adapters.memory import billing, domains, files, identity, mail, projects, resources, shared_tools, tools
from tesserra_adapters.memory.agents import MemoryAgents
from tesserra_adapters.memory.base import Undo
from tesserra_adapters.memory.conversations import (
    MemoryApprovals,
    MemoryChatBudgets,
    MemoryConversations,
    MemoryMessageEvents,
    MemoryMessages,
)
from tesserra_adapters.memory.infra_ssh import MemorySshAudit, MemorySshHosts, MemorySshLeases
from tesserra_adapters.memory.sandboxes import MemorySandboxes
from tesserra_core.domain.agents import StoredAgent
from tesserra_core.domain.billing import BillingCustomer, Invoice, Plan, Price, StoredEvent, Subscription
from tesserra_core.domain.chat_streams import StreamEvent
from tesserra_core.domain.conversations import Approval, Conversation, Message
from tesserra_core.domain.domains import DnsRecord, Domain
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.identity import (
    ApiKey,
    ConsoleSession,
    Invitation,
    Membership,
    RefreshToken,
    Session,
    Tenant,
    User,
)
from tesserra_core.domain.infra_ssh import Host
from tesserra_core.domain.infra_ssh_audit import AuditRecord
from tesserra_core.domain.infra_ssh_leases import Lease
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.projects import Project
from tesserra_core.domain.resources import Resource
from tesserra_core.domain.sandboxes import Sandbox
from tesserra_core.domain.shared_tools import ClientSync, OAuthLink, OAuthState
from tesserra_core.domain.tools import CatalogEntry, Installation
from tesserra_core.ports.leases import still_held
from tesserra_core.ports.persistence import Revocation


@dataclass
class MemoryStore:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    console_sessions: dict[str, ConsoleSession] = field(default_factory=dict)
    revocations: list[tuple[int, datetime, Revocation]] = field(default_factory=list)
    """The feed: (sequence number, published at, revocation), oldest first."""
    last_revocation: int = 0
    oauth_states: dict[str, OAuthState] = field(default_factory=dict)
    oauth_links: dict[tuple[str, str, str], OAuthLink] = field(default_factory=dict)
    client_syncs: dict[str, ClientSync] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    dns_records: dict[str, DnsRecord] = field(default_factory=dict)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    email_aliases: dict[str, EmailAlias] = field(default_factory=dict)
    project_files: dict[str, ProjectFile] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    agents: dict[str, StoredAgent] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    message_events: dict[tuple[str, int], StreamEvent] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    chat_budgets: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    tenant_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    """Plans without their prices (those live in ``prices``)."""
    prices: dict[str, Price] = field(default_factory=dict)
    customers: dict[str, BillingCustomer] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    billing_events: dict[str, StoredEvent] = field(default_factory=dict)
    catalog: dict[str, CatalogEntry] = field(default_factory=dict)
    installations: dict[str, Installation] = field(default_factory=dict)
    ssh_hosts: dict[str, Host] = field(default_factory=dict)
    ssh_audit: dict[str, list[AuditRecord]] = field(default_factory=dict)
    """Each tenant's audit records, in the order appended."""
    ssh_leases: dict[str, Lease] = field(default_factory=dict)


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._journal: list[Undo] = []
        self.tenants = identity.MemoryTenants(store, self._journal)
        self.users = identity.MemoryUsers(store, self._journal)
        self.memberships = identity.MemoryMemberships(store, self._journal)
        self.api_keys = identity.MemoryApiKeys(store, self._journal)
        self.sessions = identity.MemorySessions(store, self._journal)
        self.refresh_tokens = identity.MemoryRefreshTokens(store, self._journal)
        self.invitations = identity.MemoryInvitations(store, self._journal)
        self.console_sessions = identity.MemoryConsoleSessions(store, self._journal)
        self.revocations = identity.MemoryRevocations(store, self._journal)
        self.catalog = tools.MemoryCatalog(store, self._journal)
        self.installations = tools.MemoryInstallations(store, self._journal)
        self.oauth_states = shared_tools.MemoryOAuthStates(store, self._journal)
        self.oauth_links = shared_tools.MemoryOAuthLinks(store, self._journal)
        self.client_syncs = shared_tools.MemoryClientSyncs(store, self._journal)
        self.domains = domains.MemoryDomains(store, self._journal)
        self.dns_records = domains.MemoryDnsRecords(store, self._journal)
        self.mailboxes = mail.MemoryMailboxes(store, self._journal)
        self.email_aliases = mail.MemoryEmailAliases(store, self._journal)
        self.project_files = files.MemoryProjectFiles(store, self._journal)
        self.projects = projects.MemoryProjects(store, self._journal)
        self.resources = resources.MemoryResources(store, self._journal)
        self.sandboxes = MemorySandboxes(store, self._journal)
        self.agents = MemoryAgents(store, self._journal)
        self.conversations = MemoryConversations(store, self._journal)
        self.messages = MemoryMessages(store, self._journal)
        self.message_events = MemoryMessageEvents(store, self._journal)
        self.approvals = MemoryApprovals(store, self._journal)
        self.chat_budgets = MemoryChatBudgets(store, self._journal)
        self.plans = billing.MemoryPlans(store, self._journal)
        self.subscriptions = billing.MemorySubscriptions(store, self._journal)
        self.invoices = billing.MemoryInvoices(store, self._journal)
        self.billing_events = billing.MemoryBillingEvents(store, self._journal)
        self.ssh_hosts = MemorySshHosts(store, self._journal)
        self.ssh_audit = MemorySshAudit(store, self._journal)
        self.ssh_leases = MemorySshLeases(store, self._journal)

    async def __aenter__(self) -> MemoryUnitOfWork:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.rollback()
        finally:
            self.tenants.release()

    async def commit(self) -> None:
        still_held()  # under a runner's lease: one process, so its local deadline is the fence
        self.revocations._flush()
        self._journal.clear()

    async def rollback(self) -> None:
        while self._journal:
            self._journal.pop()()


class MemoryUnitOfWorkFactory:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self, *, read_only: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    async def ping(self) -> None:
        return None
