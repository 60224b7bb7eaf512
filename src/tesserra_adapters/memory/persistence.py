"""In-memory unit of work: every repository over plain dicts, with rollback by an undo log.

For unit tests and library users. It passes the same contract suite as the SQL adapter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

import msgspec

from tesserra_adapters.memory import domains, shared_tools
from tesserra_adapters.memory.base import Undo, _page, _Repo
from tesserra_adapters.memory.billing import MemoryBillingEvents, MemoryInvoices, MemoryPlans, MemorySubscriptions
from tesserra_adapters.memory.tools import MemoryCatalog, MemoryInstallations
from tesserra_core.domain.billing import BillingCustomer, Invoice, Plan, Price, StoredEvent, Subscription
from tesserra_core.domain.domains import DnsRecord, Domain
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.identity import ApiKey, Membership, RefreshToken, Session, Tenant, User
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import Project, ProjectFilter, name_key
from tesserra_core.domain.resources import UNSETTLED, Resource
from tesserra_core.domain.shared_tools import ClientSync, OAuthLink, OAuthState
from tesserra_core.domain.tools import CatalogEntry, Installation
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import Revocation


@dataclass
class MemoryStore:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
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


class MemoryTenants(_Repo):
    def __init__(self, store: MemoryStore, journal: list[Undo]) -> None:
        super().__init__(store, journal)
        self.held: list[asyncio.Lock] = []

    async def lock(self, tenant_id: str) -> None:
        lock = self._store.tenant_locks.setdefault(tenant_id, asyncio.Lock())
        if lock in self.held:
            return
        await lock.acquire()
        self.held.append(lock)

    def release(self) -> None:
        while self.held:
            self.held.pop().release()

    async def add(self, tenant: Tenant) -> None:
        self._ensure_slug_free(tenant)
        self._put(self._store.tenants, tenant.id, tenant)

    async def get(self, tenant_id: str) -> Tenant | None:
        return self._store.tenants.get(tenant_id)

    async def list(self, page: PageRequest) -> tuple[list[Tenant], int]:
        return _page(sorted(self._store.tenants.values(), key=lambda t: t.id), page)

    async def update(self, tenant: Tenant) -> None:
        self._ensure_slug_free(tenant)
        self._put(self._store.tenants, tenant.id, tenant)

    def _ensure_slug_free(self, tenant: Tenant) -> None:
        if any(t.slug == tenant.slug and t.id != tenant.id for t in self._store.tenants.values()):
            raise Conflict(f"the slug {tenant.slug!r} is taken", code="slug_taken")


class MemoryUsers(_Repo):
    async def add(self, user: User) -> None:
        self._ensure_email_free(user)
        self._put(self._store.users, user.id, user)

    async def get(self, user_id: str) -> User | None:
        return self._store.users.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self._store.users.values() if u.email == email), None)

    async def update(self, user: User) -> None:
        self._ensure_email_free(user)
        self._put(self._store.users, user.id, user)

    def _ensure_email_free(self, user: User) -> None:
        if any(u.email == user.email and u.id != user.id for u in self._store.users.values()):
            raise Conflict("a user with this email exists", code="email_taken")

    async def count(self) -> int:
        return len(self._store.users)

    async def clear_failed_logins(self, user_id: str, new_password_hash: str | None = None) -> None:
        user = self._store.users.get(user_id)
        if user is None:
            return
        self._put(
            self._store.users,
            user_id,
            msgspec.structs.replace(
                user,
                failed_logins=0,
                locked_until=None,
                password_hash=new_password_hash or user.password_hash,
            ),
        )


class MemoryMemberships(_Repo):
    async def add(self, membership: Membership) -> None:
        key = (membership.tenant_id, membership.user_id)
        if key in self._store.memberships:
            raise Conflict("already a member of this tenant", code="already_member")
        self._put(self._store.memberships, key, membership)

    async def get(self, tenant_id: str, user_id: str) -> Membership | None:
        return self._store.memberships.get((tenant_id, user_id))

    async def list_for_user(self, user_id: str) -> list[Membership]:
        found = [m for m in self._store.memberships.values() if m.user_id == user_id]
        return sorted(found, key=lambda m: (m.created_at, m.tenant_id))


class MemoryApiKeys(_Repo):
    async def add(self, key: ApiKey) -> None:
        if any(k.prefix == key.prefix for k in self._store.api_keys.values()):
            raise Conflict("an API key with this prefix exists", code="prefix_taken")
        self._put(self._store.api_keys, key.id, key)

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        key = self._store.api_keys.get(key_id)
        return key if key is not None and key.tenant_id == tenant_id else None

    async def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return next((k for k in self._store.api_keys.values() if k.prefix == prefix), None)

    async def list(self, tenant_id: str, page: PageRequest, created_by: str | None = None) -> tuple[list[ApiKey], int]:
        keys = [
            k for k in self._store.api_keys.values() if k.tenant_id == tenant_id and created_by in (None, k.created_by)
        ]
        return _page(sorted(keys, key=lambda k: k.id, reverse=True), page)

    async def revoke(self, tenant_id: str, key_id: str, at: datetime) -> bool:
        key = await self.get(tenant_id, key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._put(self._store.api_keys, key_id, msgspec.structs.replace(key, revoked_at=at))
        return True

    async def touch(self, used: dict[str, datetime]) -> None:
        for key_id, at in used.items():
            key = self._store.api_keys.get(key_id)
            if key is not None and (key.last_used_at is None or key.last_used_at < at):
                self._put(self._store.api_keys, key_id, msgspec.structs.replace(key, last_used_at=at))


class MemorySessions(_Repo):
    async def add(self, session: Session) -> None:
        self._put(self._store.sessions, session.id, session)

    async def get(self, session_id: str) -> Session | None:
        return self._store.sessions.get(session_id)

    async def revoke(self, session_id: str, at: datetime) -> bool:
        session = self._store.sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._put(self._store.sessions, session_id, msgspec.structs.replace(session, revoked_at=at))
        return True


class MemoryRefreshTokens(_Repo):
    async def add(self, token: RefreshToken) -> None:
        self._put(self._store.refresh_tokens, token.id, token)

    async def get(self, token_id: str) -> RefreshToken | None:
        return self._store.refresh_tokens.get(token_id)

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        token = self._store.refresh_tokens.get(token_id)
        if token is None or token.used_at is not None:
            return False
        self._put(self._store.refresh_tokens, token_id, msgspec.structs.replace(token, used_at=at))
        return True


class MemoryRevocations(_Repo):
    """Revocations join the feed at commit: readers never see uncommitted ones, and a rollback
    never shifts the positions that readers' cursors point at."""

    def __init__(self, store: MemoryStore, journal: list[Undo]) -> None:
        super().__init__(store, journal)
        self._pending: list[tuple[datetime, Revocation]] = []

    async def publish(self, revocation: Revocation, at: datetime) -> None:
        pending = self._pending
        pending.append((at, revocation))

        def undo() -> None:
            pending.pop()

        self._journal.append(undo)

    def _flush(self) -> None:
        for at, revocation in self._pending:
            self._store.last_revocation += 1
            self._store.revocations.append((self._store.last_revocation, at, revocation))
        self._pending.clear()

    async def since(self, cursor: int) -> tuple[list[Revocation], int]:
        newer = [(seq, r) for seq, _, r in self._store.revocations if seq > cursor]
        return [r for _, r in newer], newer[-1][0] if newer else cursor

    async def cursor(self) -> int:
        return self._store.last_revocation

    async def purge(self, before: datetime) -> int:
        feed = self._store.revocations
        kept = [entry for entry in feed if entry[1] >= before]
        purged = len(feed) - len(kept)
        feed[:] = kept
        return purged


class MemoryProjects(_Repo):
    async def add(self, project: Project) -> None:
        self._ensure_name_free(project)
        self._put(self._store.projects, project.id, project)

    async def get(self, tenant_id: str, project_id: str) -> Project | None:
        project = self._store.projects.get(project_id)
        return project if project is not None and project.tenant_id == tenant_id else None

    async def list(self, tenant_id: str, page: PageRequest, where: ProjectFilter) -> tuple[list[Project], int]:
        needle = where.name.casefold() if where.name else None
        found = [
            p
            for p in self._store.projects.values()
            if p.tenant_id == tenant_id
            and (where.status is None or p.status is where.status)
            and (needle is None or needle in name_key(p.name))
        ]
        return _page(sorted(found, key=lambda p: p.id, reverse=True), page)

    async def update(self, project: Project) -> None:
        self._ensure_name_free(project)
        self._put(self._store.projects, project.id, project)

    async def delete(self, tenant_id: str, project_id: str) -> bool:
        if await self.get(tenant_id, project_id) is None:
            return False
        self._drop(self._store.projects, project_id)
        for resource in [r for r in self._store.resources.values() if r.project_id == project_id]:
            self._drop(self._store.resources, resource.id)
        return True

    async def count(self, tenant_id: str) -> int:
        return sum(1 for p in self._store.projects.values() if p.tenant_id == tenant_id)

    def _ensure_name_free(self, project: Project) -> None:
        key = name_key(project.name)
        for p in self._store.projects.values():
            if p.tenant_id == project.tenant_id and p.id != project.id and name_key(p.name) == key:
                raise Conflict(f"a project named {project.name!r} exists", code="project_name_taken")


class MemoryResources(_Repo):
    async def add(self, resource: Resource) -> None:
        self._ensure_resource_name_free(resource)
        self._put(self._store.resources, resource.id, resource)

    async def get(self, tenant_id: str, resource_id: str) -> Resource | None:
        resource = self._store.resources.get(resource_id)
        return resource if resource is not None and resource.tenant_id == tenant_id else None

    async def find(self, resource_id: str) -> Resource | None:
        return self._store.resources.get(resource_id)

    async def all_of(self, tenant_id: str, project_id: str | None = None) -> list[Resource]:
        found = [
            r for r in self._store.resources.values() if r.tenant_id == tenant_id and project_id in (None, r.project_id)
        ]
        return sorted(found, key=lambda r: r.id)

    async def update(self, resource: Resource, *, if_updated_at: datetime | None = None) -> bool:
        stored = self._store.resources.get(resource.id)
        if stored is None or stored.tenant_id != resource.tenant_id:
            return False
        if if_updated_at is not None and stored.updated_at != if_updated_at:
            return False
        self._ensure_resource_name_free(resource)
        self._put(self._store.resources, resource.id, resource)
        return True

    async def delete(self, tenant_id: str, resource_id: str) -> bool:
        if await self.get(tenant_id, resource_id) is None:
            return False
        self._drop(self._store.resources, resource_id)
        return True

    async def count(self, tenant_id: str) -> int:
        return sum(1 for r in self._store.resources.values() if r.tenant_id == tenant_id)

    async def unsettled(self) -> list[Resource]:
        return sorted((r for r in self._store.resources.values() if r.status in UNSETTLED), key=lambda r: r.id)

    def _ensure_resource_name_free(self, resource: Resource) -> None:
        for r in self._store.resources.values():
            if r.project_id == resource.project_id and r.id != resource.id and r.name == resource.name:
                raise Conflict(f"the project has a resource named {resource.name!r}", code="resource_name_taken")

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[Resource], int]:
        return _page(await self.all_of(tenant_id, project_id), page)


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._journal: list[Undo] = []
        self.tenants = MemoryTenants(store, self._journal)
        self.users = MemoryUsers(store, self._journal)
        self.memberships = MemoryMemberships(store, self._journal)
        self.api_keys = MemoryApiKeys(store, self._journal)
        self.sessions = MemorySessions(store, self._journal)
        self.refresh_tokens = MemoryRefreshTokens(store, self._journal)
        self.revocations = MemoryRevocations(store, self._journal)
        self.catalog = MemoryCatalog(store, self._journal)
        self.installations = MemoryInstallations(store, self._journal)
        self.oauth_states = shared_tools.MemoryOAuthStates(store, self._journal)
        self.oauth_links = shared_tools.MemoryOAuthLinks(store, self._journal)
        self.client_syncs = shared_tools.MemoryClientSyncs(store, self._journal)
        self.domains = domains.MemoryDomains(store, self._journal)
        self.dns_records = domains.MemoryDnsRecords(store, self._journal)
        self.mailboxes = domains.MemoryMailboxes(store, self._journal)
        self.email_aliases = domains.MemoryEmailAliases(store, self._journal)
        self.project_files = domains.MemoryProjectFiles(store, self._journal)
        self.projects = MemoryProjects(store, self._journal)
        self.resources = MemoryResources(store, self._journal)
        self.plans = MemoryPlans(store, self._journal)
        self.subscriptions = MemorySubscriptions(store, self._journal)
        self.invoices = MemoryInvoices(store, self._journal)
        self.billing_events = MemoryBillingEvents(store, self._journal)

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
