"""What use cases return: plain Structs that both drivers serialize as they are."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from operator import attrgetter
from typing import Any, Generic, Self, TypeVar

import msgspec

from tesserra_core.domain.identity import ApiKey, AuthMethod, Role, Tenant, TenantStatus, Tier, User
from tesserra_core.domain.structs import by_name
from tesserra_core.ports.health import ComponentHealth, Health

E = TypeVar("E")


class View(msgspec.Struct, Generic[E], frozen=True):
    """What a use case shows of an entity ``E``: each field is the entity's attribute of the same
    name, unless the view states it otherwise (``read(entity, field=value)``). A view that needs
    more than its entity (the caller's plan, a provider) is a plain Struct built with ``by_name``."""

    @classmethod
    def of(cls, entity: E, /) -> Self:
        reader = _READERS.get(cls) or _READERS.setdefault(cls, _reader(cls.__struct_fields__))
        return cls(*reader(entity))

    @classmethod
    def read(cls, entity: E, /, **stated: Any) -> Self:
        """The view with the ``stated`` fields as given and every other one read from ``entity``."""
        return by_name(cls, entity, **stated)


_READERS: dict[type[View[Any]], Callable[[object], tuple[Any, ...]]] = {}
"""Each view's reader, made on its first use (msgspec knows a Struct's fields once its class is made)."""


def _reader(fields: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """Reads ``fields`` off an entity by name, in the order the view's constructor takes them."""
    get = attrgetter(*fields)
    return get if len(fields) > 1 else lambda entity: (get(entity),)


class TenantView(View[Tenant], frozen=True):
    id: str
    name: str
    slug: str
    status: TenantStatus
    plan: str
    created_at: datetime
    updated_at: datetime


class UserView(View[User], frozen=True):
    id: str
    email: str
    name: str
    is_platform_admin: bool
    created_at: datetime


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


class ApiKeyView(View[ApiKey], frozen=True):
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
        return cls.read(k, scopes=sorted(s.value for s in k.scopes))


class NewApiKeyView(msgspec.Struct, frozen=True):
    """A freshly minted key: the only time its secret is ever shown."""

    key: str
    api_key: ApiKeyView


class RunnerView(msgspec.Struct, frozen=True):
    """A background loop that runs once across the cluster: who holds its lease, until when, and how
    its holder's last round went (times in UTC)."""

    name: str
    holder: str | None
    """The process that holds (or last held) it: ``node@host/pid``."""
    node: str | None
    """The holder's node id."""
    generation: int
    """The lease's fencing token: incremented on each takeover."""
    held: bool
    """The holder is still renewing the lease (it has not expired)."""
    held_here: bool
    """This process (the one answering) holds it."""
    expires_at: datetime
    last_run_at: datetime | None
    last_error: str | None


class StatusView(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Health
    version: str
    uptime_seconds: float
    components: dict[str, ComponentHealth]
    runners: list[RunnerView] | None = None
    """Platform admins only: the cluster's runner leases."""
