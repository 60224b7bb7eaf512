"""Persistence: one unit of work holding every repository, scoped to a transaction."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol

import msgspec

from tesserra_core.domain.identity import (
    ApiKey,
    ConsoleSession,
    Invitation,
    Membership,
    RefreshToken,
    Role,
    Session,
    Tenant,
    User,
)
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import Project, ProjectFilter
from tesserra_core.domain.resources import Resource
from tesserra_core.ports.agents import AgentRepository
from tesserra_core.ports.billing import (
    BillingEventRepository,
    InvoiceRepository,
    PlanRepository,
    SubscriptionRepository,
)
from tesserra_core.ports.conversations import (
    ApprovalRepository,
    ChatBudgetRepository,
    ConversationRepository,
    MessageEventRepository,
    MessageRepository,
)
from tesserra_core.ports.domains import DnsRecordRepository, DomainRepository
from tesserra_core.ports.files import ProjectFileRepository
from tesserra_core.ports.mail import EmailAliasRepository, MailboxRepository
from tesserra_core.ports.sandboxes import SandboxRepository
from tesserra_core.ports.shared_tools import ClientSyncRepository, OAuthLinkRepository, OAuthStateRepository
from tesserra_core.ports.ssh import SshAuditRepository, SshHostRepository, SshLeaseRepository
from tesserra_core.ports.tools import CatalogRepository, InstallationRepository


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> None:
        """Raises ``Conflict`` if the slug is taken."""
        ...

    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def list(self, page: PageRequest) -> tuple[list[Tenant], int]:
        """A page in creation order, and the total."""
        ...

    async def update(self, tenant: Tenant) -> None:
        """Raises ``Conflict`` if the new slug is taken."""
        ...

    async def lock(self, tenant_id: str) -> None:
        """Hold the tenant until this unit of work ends: writers that count a tenant's quota-limited
        rows take it first, so that concurrent creates queue instead of both passing the limit."""
        ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises ``Conflict`` if the email is taken."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def update(self, user: User) -> None: ...

    async def count(self) -> int: ...

    async def clear_failed_logins(self, user_id: str, new_password_hash: str | None = None) -> None:
        """After a good login: store a rehashed password. (The failure count and lock columns are no
        longer read: failed attempts are counted per email in the rate limiter; this zeroes them.)"""
        ...


class MembershipRepository(Protocol):
    async def add(self, membership: Membership) -> None: ...

    async def get(self, tenant_id: str, user_id: str) -> Membership | None: ...

    async def list_for_user(self, user_id: str) -> list[Membership]:
        """Oldest first."""
        ...

    async def list_for_tenant(self, tenant_id: str, page: PageRequest) -> tuple[list[Membership], int]:
        """A page of the tenant's memberships, oldest first, and the total."""
        ...

    async def set_role(self, tenant_id: str, user_id: str, role: Role) -> bool:
        """True if the membership exists (its role is now ``role``)."""
        ...

    async def delete(self, tenant_id: str, user_id: str) -> bool:
        """True if it existed."""
        ...

    async def count_role(self, tenant_id: str, role: Role) -> int: ...


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...

    async def get(self, tenant_id: str, invitation_id: str) -> Invitation | None: ...

    async def find(self, invitation_id: str) -> Invitation | None:
        """Any tenant's invitation: for the invited person, who reaches it by its token."""
        ...

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Invitation], int]:
        """A page of the tenant's pending invitations (neither accepted nor revoked), newest first, and the total."""
        ...

    async def accept(self, invitation_id: str, at: datetime) -> bool:
        """Atomically mark it accepted; False if it already was or was revoked (of two racing, one wins)."""
        ...

    async def revoke(self, tenant_id: str, invitation_id: str, at: datetime) -> bool:
        """True if this call revoked it (the tenant's, pending)."""
        ...


class ConsoleSessionRepository(Protocol):
    """Web console sessions by the digest of their cookie's value."""

    async def add(self, session: ConsoleSession) -> None: ...

    async def get(self, key: str) -> ConsoleSession | None: ...

    async def touch(self, key: str, at: datetime) -> None:
        """Record that the session was used at ``at``."""
        ...

    async def set_shown(self, key: str, sealed: str | None) -> None: ...

    async def take_shown(self, key: str) -> str | None:
        """The sealed value to show once, cleared atomically: of two racing readers, one gets it."""
        ...

    async def delete(self, key: str) -> bool:
        """True if it existed."""
        ...

    async def list_for_user(self, user_id: str) -> list[ConsoleSession]:
        """The user's signed-in sessions, newest first."""
        ...

    async def purge(self, idle_before: datetime, anonymous_idle_before: datetime) -> int:
        """Forget the sessions last used before ``idle_before``, and the anonymous ones (nobody signed in)
        last used before ``anonymous_idle_before``. Returns how many."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None: ...

    async def get_by_prefix(self, prefix: str) -> ApiKey | None: ...

    async def list(self, tenant_id: str, page: PageRequest, created_by: str | None = None) -> tuple[list[ApiKey], int]:
        """A page of the tenant's keys (only ``created_by``'s if given), newest first, and the total."""
        ...

    async def revoke(self, tenant_id: str, key_id: str, at: datetime) -> bool:
        """True if this call revoked it (it existed and was not yet revoked)."""
        ...

    async def touch(self, used: dict[str, datetime]) -> None:
        """Record ``last_used_at`` for many keys at once."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get(self, session_id: str) -> Session | None: ...

    async def revoke(self, session_id: str, at: datetime) -> bool:
        """True if this call revoked it."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def get(self, token_id: str) -> RefreshToken | None: ...

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        """Atomically mark a token used; False if it already was (a reuse, or a lost race)."""
        ...


class Revocation(msgspec.Struct, frozen=True):
    """A credential, session, user or tenant whose cached verifications must be dropped everywhere."""

    kind: str
    subject: str


class RevocationRepository(Protocol):
    """A durable, ordered feed of revocations that every worker polls."""

    async def publish(self, revocation: Revocation, at: datetime) -> None: ...

    async def since(self, cursor: int) -> tuple[list[Revocation], int]:
        """Revocations after ``cursor``, and the new cursor."""
        ...

    async def cursor(self) -> int:
        """The current end of the feed."""
        ...

    async def purge(self, before: datetime) -> int:
        """Forget revocations published before ``before``; cursors stay valid. Returns how many."""
        ...


class ProjectRepository(Protocol):
    async def add(self, project: Project) -> None:
        """Raises ``Conflict`` if the tenant has a project of that name (case-insensitive)."""
        ...

    async def get(self, tenant_id: str, project_id: str) -> Project | None: ...

    async def list(self, tenant_id: str, page: PageRequest, where: ProjectFilter) -> tuple[list[Project], int]:
        """A page of the tenant's projects, newest first, and the total that match."""
        ...

    async def update(self, project: Project) -> None:
        """Raises ``Conflict`` if the new name is taken in the tenant."""
        ...

    async def delete(self, tenant_id: str, project_id: str) -> bool:
        """True if it existed. Its resources go with it."""
        ...

    async def count(self, tenant_id: str) -> int: ...


class ResourceRepository(Protocol):
    async def add(self, resource: Resource) -> None:
        """Raises ``Conflict`` if the project has a resource of that name."""
        ...

    async def get(self, tenant_id: str, resource_id: str) -> Resource | None: ...

    async def find(self, resource_id: str) -> Resource | None:
        """Any tenant's resource: for the provisioner, which acts for the platform, never for a caller."""
        ...

    async def all_of(self, tenant_id: str, project_id: str | None = None) -> list[Resource]:
        """Every resource of the tenant (or of one of its projects), oldest first."""
        ...

    async def update(self, resource: Resource, *, if_updated_at: datetime | None = None) -> bool:
        """Store the changes; with ``if_updated_at``, only if the stored row still has that
        ``updated_at`` (compare-and-set: of two writers that read the same row, one wins). True if
        stored. Raises ``Conflict`` if the new name is taken in the project."""
        ...

    async def delete(self, tenant_id: str, resource_id: str) -> bool: ...

    async def count(self, tenant_id: str) -> int: ...

    async def unsettled(self) -> list[Resource]:
        """Every resource, of any tenant, pending, provisioning or deleting: what a restart resumes."""
        ...

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[Resource], int]:
        """A page of the project's resources, oldest first, and the total."""
        ...


class UnitOfWork(Protocol):
    """The repositories of one transaction; read-only, so that an adapter's own repository classes satisfy it."""

    @property
    def tenants(self) -> TenantRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def memberships(self) -> MembershipRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def invitations(self) -> InvitationRepository: ...

    @property
    def console_sessions(self) -> ConsoleSessionRepository: ...

    @property
    def revocations(self) -> RevocationRepository: ...

    @property
    def catalog(self) -> CatalogRepository: ...

    @property
    def installations(self) -> InstallationRepository: ...

    @property
    def oauth_states(self) -> OAuthStateRepository: ...

    @property
    def oauth_links(self) -> OAuthLinkRepository: ...

    @property
    def client_syncs(self) -> ClientSyncRepository: ...

    @property
    def domains(self) -> DomainRepository: ...

    @property
    def dns_records(self) -> DnsRecordRepository: ...

    @property
    def mailboxes(self) -> MailboxRepository: ...

    @property
    def email_aliases(self) -> EmailAliasRepository: ...

    @property
    def project_files(self) -> ProjectFileRepository: ...

    @property
    def projects(self) -> ProjectRepository: ...

    @property
    def resources(self) -> ResourceRepository: ...

    @property
    def sandboxes(self) -> SandboxRepository: ...

    @property
    def agents(self) -> AgentRepository: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    @property
    def message_events(self) -> MessageEventRepository: ...

    @property
    def approvals(self) -> ApprovalRepository: ...

    @property
    def chat_budgets(self) -> ChatBudgetRepository: ...

    @property
    def plans(self) -> PlanRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def invoices(self) -> InvoiceRepository: ...

    @property
    def billing_events(self) -> BillingEventRepository: ...

    @property
    def ssh_hosts(self) -> SshHostRepository: ...

    @property
    def ssh_audit(self) -> SshAuditRepository: ...

    @property
    def ssh_leases(self) -> SshLeaseRepository: ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Rolls back whatever was not committed."""
        ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A fresh unit of work. ``read_only`` lets the adapter skip transaction overhead."""
        ...

    async def ping(self) -> None:
        """Raises if the store cannot be reached."""
        ...
