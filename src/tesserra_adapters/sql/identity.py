"""SQL repositories of identity: tenants, users, memberships, API keys, sessions, refresh tokens
and the revocation feed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.feed_push import notify
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.identity import (
    ApiKey,
    ConsoleSession,
    Invitation,
    Membership,
    RefreshToken,
    Role,
    Scope,
    Session,
    Tenant,
    User,
)
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import Revocation


def _tenant(r: Row[Any]) -> Tenant:
    return from_row(Tenant, r)


def _user(r: Row[Any]) -> User:
    return from_row(User, r)


def _membership(r: Row[Any]) -> Membership:
    return from_row(Membership, r)


def _api_key(r: Row[Any]) -> ApiKey:
    return from_row(ApiKey, r, scopes=frozenset(Scope(s) for s in r.scopes.split()))


def _session(r: Row[Any]) -> Session:
    return from_row(Session, r)


def _refresh(r: Row[Any]) -> RefreshToken:
    return from_row(RefreshToken, r)


class SqlTenants(_Repo):
    async def add(self, tenant: Tenant) -> None:
        conflict = Conflict(f"the slug {tenant.slug!r} is taken", code="slug_taken")
        await self._insert(t.tenants, _tenant_values(tenant), conflict)

    async def get(self, tenant_id: str) -> Tenant | None:
        return await self._read_by(t.tenants, _tenant, id=tenant_id)

    async def list(self, page: PageRequest) -> tuple[list[Tenant], int]:
        return await self._page(t.tenants, _tenant, page, and_(True), t.tenants.c.id)

    async def update(self, tenant: Tenant) -> None:
        try:
            await self._conn.execute(
                update(t.tenants).where(t.tenants.c.id == tenant.id).values(_tenant_values(tenant))
            )
        except IntegrityError:
            raise Conflict(f"the slug {tenant.slug!r} is taken", code="slug_taken") from None

    async def lock(self, tenant_id: str) -> None:
        # PostgreSQL: the row lock queues concurrent writers of this tenant until commit. SQLite:
        # every writer already holds the database's one write lock (BEGIN IMMEDIATE) until commit.
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(select(t.tenants.c.id).where(t.tenants.c.id == tenant_id).with_for_update())


def _tenant_values(tenant: Tenant) -> dict[str, Any]:
    return to_values(tenant)


class SqlUsers(_Repo):
    async def add(self, user: User) -> None:
        values = to_values(user)
        await self._insert(t.users, values, Conflict("a user with this email exists", code="email_taken"))

    async def get(self, user_id: str) -> User | None:
        return await self._read_by(t.users, _user, id=user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self._read_by(t.users, _user, email=email)

    async def update(self, user: User) -> None:
        stmt = update(t.users).where(t.users.c.id == user.id).values(to_values(user, omit=("id", "created_at")))
        try:
            await self._conn.execute(stmt)
        except IntegrityError:
            raise Conflict("a user with this email exists", code="email_taken") from None

    async def count(self) -> int:
        return await self._count(t.users)

    async def clear_failed_logins(self, user_id: str, new_password_hash: str | None = None) -> None:
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if new_password_hash is not None:
            values["password_hash"] = new_password_hash
        await self._conn.execute(update(t.users).where(t.users.c.id == user_id).values(values))


class SqlMemberships(_Repo):
    async def add(self, membership: Membership) -> None:
        values = to_values(membership)
        await self._insert(t.memberships, values, Conflict("already a member of this tenant", code="already_member"))

    async def get(self, tenant_id: str, user_id: str) -> Membership | None:
        return await self._read_by(t.memberships, _membership, tenant_id=tenant_id, user_id=user_id)

    async def list_for_user(self, user_id: str) -> list[Membership]:
        m = t.memberships.c
        rows = await self._all(select(t.memberships).where(m.user_id == user_id).order_by(m.created_at, m.tenant_id))
        return [_membership(r) for r in rows]

    async def list_for_tenant(self, tenant_id: str, page: PageRequest) -> tuple[list[Membership], int]:
        m = t.memberships.c
        return await self._page(t.memberships, _membership, page, m.tenant_id == tenant_id, m.created_at, m.user_id)

    async def set_role(self, tenant_id: str, user_id: str, role: Role) -> bool:
        m = t.memberships.c
        stmt = update(t.memberships).where(m.tenant_id == tenant_id, m.user_id == user_id).values(role=role.value)
        return bool((await self._conn.execute(stmt)).rowcount)

    async def delete(self, tenant_id: str, user_id: str) -> bool:
        return await self._delete_by(t.memberships, tenant_id=tenant_id, user_id=user_id)

    async def count_role(self, tenant_id: str, role: Role) -> int:
        m = t.memberships.c
        return await self._count(t.memberships, m.tenant_id == tenant_id, m.role == role.value)


def _invitation(r: Row[Any]) -> Invitation:
    return from_row(Invitation, r)


class SqlInvitations(_Repo):
    async def add(self, invitation: Invitation) -> None:
        await self._insert(
            t.invitations, to_values(invitation), Conflict("invitation exists", code="invitation_exists")
        )

    async def get(self, tenant_id: str, invitation_id: str) -> Invitation | None:
        return await self._read_owned(t.invitations, _invitation, tenant_id, invitation_id)

    async def find(self, invitation_id: str) -> Invitation | None:
        return await self._read_by(t.invitations, _invitation, id=invitation_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Invitation], int]:
        i = t.invitations.c
        pending = and_(i.tenant_id == tenant_id, i.accepted_at.is_(None), i.revoked_at.is_(None))
        return await self._page(t.invitations, _invitation, page, pending, i.id.desc())

    async def accept(self, invitation_id: str, at: datetime) -> bool:
        i = t.invitations.c
        return await self._stamp(t.invitations, "accepted_at", at, i.id == invitation_id, i.revoked_at.is_(None))

    async def revoke(self, tenant_id: str, invitation_id: str, at: datetime) -> bool:
        i = t.invitations.c
        where = (i.id == invitation_id, i.tenant_id == tenant_id, i.accepted_at.is_(None))
        return await self._stamp(t.invitations, "revoked_at", at, *where)


def _console_session(r: Row[Any]) -> ConsoleSession:
    return from_row(ConsoleSession, r)


class SqlConsoleSessions(_Repo):
    async def add(self, session: ConsoleSession) -> None:
        await self._insert(
            t.console_sessions, to_values(session), Conflict("console session exists", code="session_exists")
        )

    async def get(self, key: str) -> ConsoleSession | None:
        return await self._read_by(t.console_sessions, _console_session, key=key)

    async def touch(self, key: str, at: datetime) -> None:
        c = t.console_sessions.c
        await self._conn.execute(update(t.console_sessions).where(c.key == key).values(last_seen=at))

    async def set_shown(self, key: str, sealed: str | None) -> None:
        c = t.console_sessions.c
        await self._conn.execute(update(t.console_sessions).where(c.key == key).values(shown_once=sealed))

    async def take_shown(self, key: str) -> str | None:
        c = t.console_sessions.c
        row = await self._one(select(c.shown_once).where(c.key == key, c.shown_once.is_not(None)))
        if row is None:
            return None
        # Cleared only where it still holds what was read: of two racing readers, one clears it, and gets it.
        cleared = update(t.console_sessions).where(c.key == key, c.shown_once == row.shown_once).values(shown_once=None)
        return str(row.shown_once) if (await self._conn.execute(cleared)).rowcount else None

    async def delete(self, key: str) -> bool:
        return await self._delete_by(t.console_sessions, key=key)

    async def list_for_user(self, user_id: str) -> list[ConsoleSession]:
        c = t.console_sessions.c
        query = select(t.console_sessions).where(c.user_id == user_id, c.login_id.is_not(None))
        rows = await self._all(query.order_by(c.created_at.desc(), c.key.desc()))
        return [_console_session(r) for r in rows]

    async def purge(self, idle_before: datetime, anonymous_idle_before: datetime) -> int:
        c = t.console_sessions.c
        idle = or_(c.last_seen < idle_before, and_(c.user_id.is_(None), c.last_seen < anonymous_idle_before))
        return int((await self._conn.execute(delete(t.console_sessions).where(idle))).rowcount)


class SqlApiKeys(_Repo):
    async def add(self, key: ApiKey) -> None:
        values = to_values(key, scopes=" ".join(sorted(key.scopes)))
        await self._insert(t.api_keys, values, Conflict("an API key with this prefix exists", code="prefix_taken"))

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return await self._read_owned(t.api_keys, _api_key, tenant_id, key_id)

    async def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return await self._read_by(t.api_keys, _api_key, prefix=prefix)

    async def list(self, tenant_id: str, page: PageRequest, created_by: str | None = None) -> tuple[list[ApiKey], int]:
        k = t.api_keys.c
        where = k.tenant_id == tenant_id
        if created_by is not None:
            where = and_(where, k.created_by == created_by)
        return await self._page(t.api_keys, _api_key, page, where, k.id.desc())

    async def revoke(self, tenant_id: str, key_id: str, at: datetime) -> bool:
        k = t.api_keys.c
        return await self._stamp(t.api_keys, "revoked_at", at, k.id == key_id, k.tenant_id == tenant_id)

    async def touch(self, used: dict[str, datetime]) -> None:
        if not used:
            return
        k = t.api_keys.c
        stmt = (
            update(t.api_keys)
            .where(k.id == bindparam("key_id"))
            .where((k.last_used_at.is_(None)) | (k.last_used_at < bindparam("at")))
            .values(last_used_at=bindparam("at"))
        )
        await self._conn.execute(stmt, [{"key_id": key_id, "at": at} for key_id, at in used.items()])


class SqlSessions(_Repo):
    async def add(self, session: Session) -> None:
        values = to_values(session)
        await self._insert(t.sessions, values, Conflict("session exists", code="session_exists"))

    async def get(self, session_id: str) -> Session | None:
        return await self._read_by(t.sessions, _session, id=session_id)

    async def revoke(self, session_id: str, at: datetime) -> bool:
        return await self._stamp(t.sessions, "revoked_at", at, t.sessions.c.id == session_id)


class SqlRefreshTokens(_Repo):
    async def add(self, token: RefreshToken) -> None:
        values = to_values(token)
        await self._insert(t.refresh_tokens, values, Conflict("refresh token exists", code="token_exists"))

    async def get(self, token_id: str) -> RefreshToken | None:
        return await self._read_by(t.refresh_tokens, _refresh, id=token_id)

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        return await self._stamp(t.refresh_tokens, "used_at", at, t.refresh_tokens.c.id == token_id)


_REVOCATION_LOCK = 0x7E55E4A


class SqlRevocations(_Repo):
    async def publish(self, revocation: Revocation, at: datetime) -> None:
        if self._conn.dialect.name == "postgresql":
            # Sequence values are taken at insert, not at commit: without this lock a reader could
            # see seq N+1 commit, move its cursor past it, and never see seq N committing later.
            # Publishers serialize until commit (SQLite's BEGIN IMMEDIATE already does that).
            await self._conn.execute(select(func.pg_advisory_xact_lock(_REVOCATION_LOCK)))
        await self._conn.execute(
            insert(t.revocations).values(kind=revocation.kind, subject=revocation.subject, created_at=at)
        )
        if self._conn.dialect.name == "postgresql":
            await notify(self._conn)  # every worker's watcher polls at this commit (tesserra_adapters.sql.feed_push)

    async def since(self, cursor: int) -> tuple[list[Revocation], int]:
        r = t.revocations.c
        rows = await self._all(select(r.seq, r.kind, r.subject).where(r.seq > cursor).order_by(r.seq).limit(10_000))
        if not rows:
            return [], cursor
        return [Revocation(row.kind, row.subject) for row in rows], int(rows[-1].seq)

    async def cursor(self) -> int:
        value = (await self._conn.execute(select(func.max(t.revocations.c.seq)))).scalar()
        return int(value or 0)

    async def purge(self, before: datetime) -> int:
        result = await self._conn.execute(delete(t.revocations).where(t.revocations.c.created_at < before))
        return int(result.rowcount or 0)
