"""Entities with unique ids, slugs, emails and prefixes, so tests can share one database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tesserra_adapters.system import UlidFactory
from tesserra_core.domain.identity import (
    ApiKey,
    Membership,
    RefreshToken,
    Role,
    Scope,
    Session,
    Tenant,
    TenantStatus,
    Tier,
    User,
)
from tesserra_core.ports.persistence import UnitOfWorkFactory

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
_ids = UlidFactory()


def new_id() -> str:
    return _ids.new()


def ascending_ids(n: int) -> list[str]:
    """``n`` distinct ids in ascending order (ids sort by creation time, not strictly within a millisecond)."""
    return sorted({new_id() for _ in range(n)})


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def tenant(**changes: Any) -> Tenant:
    values: dict[str, Any] = {
        "id": new_id(),
        "name": "Acme Ltda",
        "slug": unique("acme"),
        "status": TenantStatus.ACTIVE,
        "plan": "pro",
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
    }
    return Tenant(**{**values, **changes})


def user(**changes: Any) -> User:
    values: dict[str, Any] = {
        "id": new_id(),
        "email": f"{unique('user')}@example.com",
        "name": "Ana Souza",
        "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        "is_platform_admin": False,
        "active": True,
        "failed_logins": 0,
        "locked_until": None,
        "created_at": T0,
    }
    return User(**{**values, **changes})


def membership(tenant_id: str, user_id: str, **changes: Any) -> Membership:
    values: dict[str, Any] = {"tenant_id": tenant_id, "user_id": user_id, "role": Role.MEMBER, "created_at": T0}
    return Membership(**{**values, **changes})


def api_key(tenant_id: str, created_by: str, **changes: Any) -> ApiKey:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "created_by": created_by,
        "name": "ci deploy",
        "prefix": uuid.uuid4().hex[:12],
        "secret_hash": "ab" * 32,
        "scopes": frozenset({Scope.PROJECTS_READ, Scope.PROJECTS_WRITE}),
        "tier": Tier.STANDARD,
        "created_at": T0,
        "expires_at": None,
        "last_used_at": None,
        "revoked_at": None,
    }
    return ApiKey(**{**values, **changes})


def session(tenant_id: str, user_id: str, **changes: Any) -> Session:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "user_id": user_id,
        "created_at": T0,
        "revoked_at": None,
    }
    return Session(**{**values, **changes})


def refresh_token(session_id: str, **changes: Any) -> RefreshToken:
    values: dict[str, Any] = {
        "id": new_id(),
        "session_id": session_id,
        "token_hash": "cd" * 32,
        "created_at": T0,
        "expires_at": T0 + timedelta(days=30),
        "used_at": None,
    }
    return RefreshToken(**{**values, **changes})


async def seed_member(uow_factory: UnitOfWorkFactory, role: Role = Role.MEMBER) -> tuple[Tenant, User]:
    """A committed tenant and a user who is a member of it."""
    t, u = tenant(), user()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.users.add(u)
        await uow.memberships.add(membership(t.id, u.id, role=role))
        await uow.commit()
    return t, u


async def seed_session(uow_factory: UnitOfWorkFactory) -> Session:
    t, u = await seed_member(uow_factory)
    s = session(t.id, u.id)
    async with uow_factory() as uow:
        await uow.sessions.add(s)
        await uow.commit()
    return s
