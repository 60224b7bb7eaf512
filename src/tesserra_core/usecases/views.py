"""What use cases return: plain Structs that both drivers serialize as they are."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tesserra_core.domain.identity import ApiKey, AuthMethod, Role, Tenant, TenantStatus, Tier, User
from tesserra_core.ports.health import ComponentHealth, Health


class TenantView(msgspec.Struct, frozen=True):
    id: str
    name: str
    slug: str
    status: TenantStatus
    plan: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: Tenant) -> TenantView:
        return cls(
            id=t.id,
            name=t.name,
            slug=t.slug,
            status=t.status,
            plan=t.plan,
            created_at=t.created_at,
            updated_at=t.updated_at,
        )


class UserView(msgspec.Struct, frozen=True):
    id: str
    email: str
    name: str
    is_platform_admin: bool
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserView:
        return cls(id=u.id, email=u.email, name=u.name, is_platform_admin=u.is_platform_admin, created_at=u.created_at)


class MembershipView(msgspec.Struct, frozen=True):
    tenant_id: str
    role: Role


class MeView(msgspec.Struct, frozen=True):
    user: UserView
    tenant: TenantView
    role: Role
    scopes: list[str]
    tier: Tier
    auth_method: AuthMethod
    credential_id: str
    acting_user_id: str | None
    memberships: list[MembershipView]


class ApiKeyView(msgspec.Struct, frozen=True):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    tier: Tier
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyView:
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            scopes=sorted(s.value for s in k.scopes),
            tier=k.tier,
            created_by=k.created_by,
            created_at=k.created_at,
            expires_at=k.expires_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )


class NewApiKeyView(msgspec.Struct, frozen=True):
    """A freshly minted key: the only time its secret is ever shown."""

    key: str
    api_key: ApiKeyView


class StatusView(msgspec.Struct, frozen=True):
    status: Health
    version: str
    uptime_seconds: float
    components: dict[str, ComponentHealth]
