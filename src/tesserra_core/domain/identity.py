"""Identity and access: tenants, users, memberships, API keys, sessions, and the acting principal."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import msgspec

from tesserra_core.errors import Forbidden, ValidationFailed


class Scope(enum.StrEnum):
    """What a credential may do. API keys carry a subset of their creator's scopes."""

    PROFILE_READ = "profile:read"
    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"
    TENANT_READ = "tenant:read"
    TENANT_WRITE = "tenant:write"
    PROJECTS_READ = "projects:read"
    PROJECTS_WRITE = "projects:write"
    DOMAINS_READ = "domains:read"
    DOMAINS_WRITE = "domains:write"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    TOOLS_READ = "tools:read"
    TOOLS_WRITE = "tools:write"
    STATUS_READ = "status:read"
    CHAT_READ = "chat:read"
    CHAT_WRITE = "chat:write"
    ADMIN = "admin"


class Role(enum.StrEnum):
    """A user's role inside one tenant."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Tier(enum.StrEnum):
    """How much of the tool surface (MCP) an API key reaches; ordered by ``rank``."""

    BASIC = "basic"
    STANDARD = "standard"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]

    def covers(self, other: Tier) -> bool:
        return self.rank >= other.rank


_TIER_RANK = {Tier.BASIC: 0, Tier.STANDARD: 1, Tier.ADMIN: 2}

_READ = frozenset(
    {
        Scope.PROFILE_READ,
        Scope.TENANT_READ,
        Scope.PROJECTS_READ,
        Scope.DOMAINS_READ,
        Scope.TOOLS_READ,
        Scope.STATUS_READ,
        Scope.CHAT_READ,
    }
)
_MEMBER = _READ | {
    Scope.KEYS_READ,
    Scope.KEYS_WRITE,
    Scope.PROJECTS_WRITE,
    Scope.DOMAINS_WRITE,
    Scope.TOOLS_WRITE,
    Scope.CHAT_WRITE,
}
_TENANT_ADMIN = _MEMBER | {Scope.TENANT_WRITE, Scope.BILLING_READ}
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VIEWER: _READ | {Scope.KEYS_READ, Scope.KEYS_WRITE, Scope.CHAT_WRITE},
    Role.MEMBER: frozenset(_MEMBER),
    Role.ADMIN: frozenset(_TENANT_ADMIN),
    Role.OWNER: frozenset(_TENANT_ADMIN | {Scope.BILLING_WRITE}),
}
ROLE_TIER: dict[Role, Tier] = {
    Role.VIEWER: Tier.BASIC,
    Role.MEMBER: Tier.STANDARD,
    Role.ADMIN: Tier.STANDARD,
    Role.OWNER: Tier.STANDARD,
}


def rights_of(role: Role, platform_admin: bool) -> tuple[frozenset[Scope], Tier]:
    """The scopes and tier a user holds in a tenant: the ceiling for any key they mint."""
    if platform_admin:
        return frozenset(Scope), Tier.ADMIN
    return ROLE_SCOPES[role], ROLE_TIER[role]


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class AuthMethod(enum.StrEnum):
    JWT = "jwt"
    API_KEY = "api_key"


SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,253}\.[^@\s.\x00-\x1f\x7f]{2,63}$"
_SLUG = re.compile(SLUG_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
SLUG = msgspec.Meta(pattern=SLUG_PATTERN, examples=["acme"])
EMAIL = msgspec.Meta(
    pattern=f"^ *{EMAIL_PATTERN[1:-1]} *$",
    description="Any case, surrounding spaces ignored",
    examples=["you@acme.com"],
)


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.match(value):
        raise ValidationFailed("email is not a valid address", code="invalid_email")
    return value


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ValidationFailed(
            "slug must be 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen",
            code="invalid_slug",
        )
    return slug


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "tenant"


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    slug: str
    status: TenantStatus
    plan: str
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status is TenantStatus.ACTIVE


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    email: str
    name: str
    password_hash: str
    is_platform_admin: bool
    active: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime


class Membership(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    user_id: str
    role: Role
    created_at: datetime


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    created_by: str
    name: str
    prefix: str
    secret_hash: str
    scopes: frozenset[Scope]
    tier: Tier
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A login: one refresh-token family. Revoking it ends every token issued in it."""

    id: str
    tenant_id: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None


class RefreshToken(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    session_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
"""Roles ordered by what they may do: nobody grants, changes or removes a role above their own."""


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    """An offer to join a tenant with a role, sent to an email address; accepted once, by that address."""

    id: str
    tenant_id: str
    email: str
    role: Role
    token_hash: str
    """A keyed digest of the secret half of the one-time token: the store never keeps the token."""
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class ConsoleSession(msgspec.Struct, frozen=True, kw_only=True):
    """A web console session, kept in the shared store so that every worker (and a restarted one) knows it.

    The browser holds a random value in an HttpOnly cookie; the store keeps only its SHA-256 (``key``). A
    signed-in session points at the login (``login_id``, a core ``Session``) it acts through; no token is
    stored."""

    key: str
    csrf: str
    user_agent: str
    created_at: datetime
    last_seen: datetime
    user_id: str | None = None
    login_id: str | None = None
    role: Role | None = None
    """The role the session was opened (or last rotated) with: a different role now rotates it."""
    shown_once: str | None = None
    """Something sealed to show on exactly one page (a new API key's secret), taken when shown."""

    @property
    def signed_in(self) -> bool:
        return self.login_id is not None


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting, in which tenant, with what rights. Every use case takes one."""

    user_id: str
    tenant_id: str
    role: Role
    is_platform_admin: bool
    scopes: frozenset[Scope]
    tier: Tier
    method: AuthMethod
    credential_id: str
    """The API key id, or the session id of a JWT."""
    acting_user_id: str | None = None
    """The human an admin key acts for (``X-User-Id``)."""
    console: bool = False
    """Signed in to the web console: a person at a browser (its Origin and CSRF token checked on every
    write), never set from a request's own fields."""

    @classmethod
    def member(cls, user: User, membership: Membership, method: AuthMethod, credential_id: str) -> Principal:
        """A user acting with every right their membership (and platform-admin flag) gives them."""
        scopes, tier = rights_of(membership.role, user.is_platform_admin)
        return cls(
            user_id=user.id,
            tenant_id=membership.tenant_id,
            role=membership.role,
            is_platform_admin=user.is_platform_admin,
            scopes=scopes,
            tier=tier,
            method=method,
            credential_id=credential_id,
        )

    @property
    def subject(self) -> str:
        """The identity that owns idempotency keys and per-principal state."""
        return f"{self.method.value}:{self.credential_id}"

    @property
    def connection_owner(self) -> str:
        """Who owns a connection's state (a stateful MCP session), and alone may use or end it.

        An API key owns what it opened (another key, even of the same user, does not); a login
        owns it as its user in its tenant, so a refreshed access token keeps the session. An admin
        key acting for a human (``X-User-Id``) owns it together with that human.
        """
        holder = f"api_key:{self.credential_id}" if self.method is AuthMethod.API_KEY else f"user:{self.user_id}"
        acting = f"|acting:{self.acting_user_id}" if self.acting_user_id is not None else ""
        return f"tenant:{self.tenant_id}|{holder}{acting}"

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    def require(self, *scopes: Scope) -> None:
        missing = [s.value for s in scopes if s not in self.scopes]
        if missing:
            raise Forbidden(f"missing scope: {', '.join(missing)}", code="insufficient_scope")

    def require_tier(self, tier: Tier) -> None:
        if not self.tier.covers(tier):
            raise Forbidden(f"this needs a key of tier {tier.value} or higher", code="insufficient_tier")

    def require_platform_admin(self) -> None:
        if not (self.is_platform_admin and Scope.ADMIN in self.scopes):
            raise Forbidden("platform administrators only", code="admin_only")
