"""In-memory repositories of identity: tenants, users, memberships, API keys, sessions, refresh
tokens and the revocation feed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from tesserra_adapters.memory.base import Undo, _Repo
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
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import Revocation

if TYPE_CHECKING:
    from tesserra_adapters.memory.unit_of_work import MemoryStore


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
        return page.window(sorted(self._store.tenants.values(), key=lambda t: t.id))

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

    async def list_for_tenant(self, tenant_id: str, page: PageRequest) -> tuple[list[Membership], int]:
        found = [m for m in self._store.memberships.values() if m.tenant_id == tenant_id]
        return page.window(sorted(found, key=lambda m: (m.created_at, m.user_id)))

    async def set_role(self, tenant_id: str, user_id: str, role: Role) -> bool:
        key = (tenant_id, user_id)
        membership = self._store.memberships.get(key)
        if membership is None:
            return False
        self._put(self._store.memberships, key, msgspec.structs.replace(membership, role=role))
        return True

    async def delete(self, tenant_id: str, user_id: str) -> bool:
        return self._pop(self._store.memberships, (tenant_id, user_id))

    async def count_role(self, tenant_id: str, role: Role) -> int:
        return sum(1 for m in self._store.memberships.values() if m.tenant_id == tenant_id and m.role is role)


class MemoryInvitations(_Repo):
    async def add(self, invitation: Invitation) -> None:
        self._put(self._store.invitations, invitation.id, invitation)

    async def get(self, tenant_id: str, invitation_id: str) -> Invitation | None:
        return self._owned(self._store.invitations, tenant_id, invitation_id)

    async def find(self, invitation_id: str) -> Invitation | None:
        return self._store.invitations.get(invitation_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Invitation], int]:
        pending = [
            i
            for i in self._store.invitations.values()
            if i.tenant_id == tenant_id and i.accepted_at is None and i.revoked_at is None
        ]
        return page.window(sorted(pending, key=lambda i: i.id, reverse=True))

    async def accept(self, invitation_id: str, at: datetime) -> bool:
        invitation = self._store.invitations.get(invitation_id)
        if invitation is None or invitation.revoked_at is not None:
            return False
        return self._stamp(self._store.invitations, invitation_id, "accepted_at", at)

    async def revoke(self, tenant_id: str, invitation_id: str, at: datetime) -> bool:
        invitation = await self.get(tenant_id, invitation_id)
        if invitation is None or invitation.accepted_at is not None:
            return False
        return self._stamp(self._store.invitations, invitation_id, "revoked_at", at)


class MemoryConsoleSessions(_Repo):
    async def add(self, session: ConsoleSession) -> None:
        if session.key in self._store.console_sessions:
            raise Conflict("console session exists", code="session_exists")
        self._put(self._store.console_sessions, session.key, session)

    async def get(self, key: str) -> ConsoleSession | None:
        return self._store.console_sessions.get(key)

    async def touch(self, key: str, at: datetime) -> None:
        self._change(key, last_seen=at)

    async def set_shown(self, key: str, sealed: str | None) -> None:
        self._change(key, shown_once=sealed)

    async def take_shown(self, key: str) -> str | None:
        session = self._store.console_sessions.get(key)
        if session is None or session.shown_once is None:
            return None
        self._change(key, shown_once=None)
        return session.shown_once

    def _change(self, key: str, **fields: object) -> None:
        session = self._store.console_sessions.get(key)
        if session is not None:
            self._put(self._store.console_sessions, key, msgspec.structs.replace(session, **fields))

    async def delete(self, key: str) -> bool:
        return self._pop(self._store.console_sessions, key)

    async def list_for_user(self, user_id: str) -> list[ConsoleSession]:
        mine = [s for s in self._store.console_sessions.values() if s.user_id == user_id and s.signed_in]
        return sorted(mine, key=lambda s: (s.created_at, s.key), reverse=True)

    async def purge(self, idle_before: datetime, anonymous_idle_before: datetime) -> int:
        old = [
            k
            for k, s in self._store.console_sessions.items()
            if s.last_seen < (idle_before if s.user_id is not None else max(idle_before, anonymous_idle_before))
        ]
        for key in old:
            self._drop(self._store.console_sessions, key)
        return len(old)


class MemoryApiKeys(_Repo):
    async def add(self, key: ApiKey) -> None:
        if any(k.prefix == key.prefix for k in self._store.api_keys.values()):
            raise Conflict("an API key with this prefix exists", code="prefix_taken")
        self._put(self._store.api_keys, key.id, key)

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return self._owned(self._store.api_keys, tenant_id, key_id)

    async def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return next((k for k in self._store.api_keys.values() if k.prefix == prefix), None)

    async def list(self, tenant_id: str, page: PageRequest, created_by: str | None = None) -> tuple[list[ApiKey], int]:
        keys = [
            k for k in self._store.api_keys.values() if k.tenant_id == tenant_id and created_by in (None, k.created_by)
        ]
        return page.window(sorted(keys, key=lambda k: k.id, reverse=True))

    async def revoke(self, tenant_id: str, key_id: str, at: datetime) -> bool:
        if await self.get(tenant_id, key_id) is None:
            return False
        return self._stamp(self._store.api_keys, key_id, "revoked_at", at)

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
        return self._stamp(self._store.sessions, session_id, "revoked_at", at)


class MemoryRefreshTokens(_Repo):
    async def add(self, token: RefreshToken) -> None:
        self._put(self._store.refresh_tokens, token.id, token)

    async def get(self, token_id: str) -> RefreshToken | None:
        return self._store.refresh_tokens.get(token_id)

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        return self._stamp(self._store.refresh_tokens, token_id, "used_at", at)


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
