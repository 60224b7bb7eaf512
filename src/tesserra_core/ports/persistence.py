"""Persistence: one unit of work holding every repository, scoped to a transaction."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol

import msgspec

from tesserra_core.domain.identity import ApiKey, Membership, RefreshToken, Session, Tenant, User
from tesserra_core.domain.paging import PageRequest
from tesserra_core.ports.shared_tools import ClientSyncRepository, OAuthLinkRepository, OAuthStateRepository
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


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises ``Conflict`` if the email is taken."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def update(self, user: User) -> None: ...

    async def count(self) -> int: ...

    async def record_failed_login(self, user_id: str, threshold: int, lock_until: datetime) -> None:
        """Atomically count one failure; at ``threshold`` consecutive ones, lock until ``lock_until``."""
        ...

    async def clear_failed_logins(self, user_id: str, new_password_hash: str | None = None) -> None:
        """After a good login: reset the failure count and lock, and store a rehashed password."""
        ...


class MembershipRepository(Protocol):
    async def add(self, membership: Membership) -> None: ...

    async def get(self, tenant_id: str, user_id: str) -> Membership | None: ...

    async def list_for_user(self, user_id: str) -> list[Membership]:
        """Oldest first."""
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


class UnitOfWork(Protocol):
    tenants: TenantRepository
    users: UserRepository
    memberships: MembershipRepository
    api_keys: ApiKeyRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    revocations: RevocationRepository
    catalog: CatalogRepository
    installations: InstallationRepository
    oauth_states: OAuthStateRepository
    oauth_links: OAuthLinkRepository
    client_syncs: ClientSyncRepository

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
