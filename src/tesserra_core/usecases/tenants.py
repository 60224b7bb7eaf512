"""Tenants: the caller's own, and the platform administrators' view of all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.billing import PLAN_CODE
from tesserra_core.domain.identity import (
    EMAIL,
    SLUG,
    Membership,
    Principal,
    Role,
    Scope,
    Tenant,
    TenantStatus,
    User,
    check_slug,
    normalize_email,
    slugify,
)
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, Line, Text, check_name, name_meta
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed, found
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.security import PasswordHasher
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.credentials import Revoker, tenant_tag, user_tag
from tesserra_core.usecases.views import TenantView

_MAX_NAME = 200
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
PASSWORD_META = msgspec.Meta(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
"""The bounds of a password a user or a mailbox is given."""


class NewTenant(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(_MAX_NAME), msgspec.Meta(examples=["Acme Inc"])]
    slug: Annotated[str, SLUG, msgspec.Meta(description="Default: from the name")] | None = None
    plan: Annotated[str, PLAN_CODE] = "free"
    owner_email: Annotated[str, EMAIL] | None = None
    owner_password: Annotated[Text, PASSWORD_META] | None = None
    """Required when ``owner_email`` names a user who does not exist yet (422 password_required otherwise)."""
    owner_name: Line | None = None


class TenantChanges(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(_MAX_NAME)] | None = None
    slug: Annotated[str, SLUG] | None = None
    plan: Annotated[str, PLAN_CODE] | None = None
    status: TenantStatus | None = None


def _name(value: str) -> str:
    return check_name("name", value, _MAX_NAME)


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters", code="weak_password")
    return password


async def tenant_of(uow: UnitOfWork, tenant_id: str) -> Tenant:
    return found(await uow.tenants.get(tenant_id), "no such tenant", code="tenant_not_found")


@dataclass(frozen=True, slots=True)
class CurrentTenant:
    """The caller's tenant."""

    scope: ClassVar[Scope] = Scope.TENANT_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal) -> TenantView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return TenantView.of(await tenant_of(uow, actor.tenant_id))


@dataclass(frozen=True, slots=True)
class ListTenants:
    """Every tenant, oldest first (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[TenantView]:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.tenants.list(page), TenantView.of)


@dataclass(frozen=True, slots=True)
class GetTenant:
    """One tenant (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, tenant_id: str) -> TenantView:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            return TenantView.of(await tenant_of(uow, tenant_id))


@dataclass(frozen=True, slots=True)
class Onboard:
    """Creates a tenant and, optionally, its owner (a new user or an existing one)."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    ids: IdFactory
    clock: Clock
    revoker: Revoker

    async def __call__(self, cmd: NewTenant, *, platform_admin: bool = False) -> TenantView:
        name = _name(cmd.name)
        slug = check_slug(cmd.slug) if cmd.slug is not None else slugify(name)
        email = normalize_email(cmd.owner_email) if cmd.owner_email is not None else None
        password_hash = None
        if cmd.owner_password is not None:
            password_hash = await self.hasher.hash(check_password(cmd.owner_password))
        now = self.clock.now()
        tenant = Tenant(
            id=self.ids.new(),
            name=name,
            slug=slug,
            status=TenantStatus.ACTIVE,
            plan=cmd.plan,
            created_at=now,
            updated_at=now,
        )
        owner = None
        async with self.uow() as uow:
            await uow.tenants.add(tenant)
            if email is not None:
                owner = await self._owner(uow, email, password_hash, cmd.owner_name, platform_admin)
                await uow.memberships.add(
                    Membership(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER, created_at=now)
                )
                await self.revoker.publish(uow, user_tag(owner.id))  # their memberships changed
            await uow.commit()
        if owner is not None:
            self.revoker.evict(user_tag(owner.id))
        return TenantView.of(tenant)

    async def _owner(
        self, uow: UnitOfWork, email: str, password_hash: str | None, name: str | None, platform_admin: bool
    ) -> User:
        existing = await uow.users.get_by_email(email)
        if existing is not None:
            if password_hash is not None:
                raise Conflict(
                    "a user with this email exists; omit owner_password to make them the owner",
                    code="user_exists",
                )
            return existing
        if password_hash is None:
            raise Unprocessable("owner_password is required for a new owner", code="password_required")
        user = User(
            id=self.ids.new(),
            email=email,
            name=(name or email.split("@")[0]).strip()[:_MAX_NAME],
            password_hash=password_hash,
            is_platform_admin=platform_admin,
            active=True,
            failed_logins=0,
            locked_until=None,
            created_at=self.clock.now(),
        )
        await uow.users.add(user)
        return user


@dataclass(frozen=True, slots=True)
class CreateTenant:
    """Create a tenant, optionally with its owner (platform administrators): a new user, with
    ``owner_password``, or an existing one, without it."""

    scope: ClassVar[Scope] = Scope.ADMIN

    onboard: Onboard

    async def __call__(self, actor: Principal, cmd: NewTenant) -> TenantView:
        actor.require_platform_admin()
        return await self.onboard(cmd)


@dataclass(frozen=True, slots=True)
class UpdateTenant:
    """Rename, re-slug, change the plan or the status of a tenant (platform administrators). Suspending ends
    every session and key of the tenant; the caller's own tenant cannot be suspended (``own_tenant``)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    revoker: Revoker
    clock: Clock

    async def __call__(self, actor: Principal, tenant_id: str, changes: TenantChanges) -> TenantView:
        actor.require_platform_admin()
        async with self.uow() as uow:
            tenant = await tenant_of(uow, tenant_id)
            if changes.status is TenantStatus.SUSPENDED and tenant.id == actor.tenant_id:
                # The caller would lock themselves out, and with them the way back (reactivate).
                raise Conflict("an administrator cannot suspend their own tenant", code="own_tenant")
            updated = msgspec.structs.replace(
                tenant,
                name=_name(changes.name) if changes.name is not None else tenant.name,
                slug=check_slug(changes.slug) if changes.slug is not None else tenant.slug,
                plan=changes.plan if changes.plan is not None else tenant.plan,
                status=changes.status or tenant.status,
                updated_at=self.clock.now(),
            )
            await uow.tenants.update(updated)
            # Every worker drops what it cached about the tenant: its profile views and, when it
            # is suspended, every credential of it.
            await self.revoker.publish(uow, tenant_tag(tenant.id))
            await uow.commit()
        self.revoker.evict(tenant_tag(tenant.id))
        return TenantView.of(updated)


@dataclass(frozen=True, slots=True)
class SetTenantStatus:
    """Suspend or reactivate a tenant (platform administrators). A suspended tenant's users and keys are refused
    until it is reactivated; the caller's own tenant cannot be suspended (``own_tenant``): nobody in it could
    reactivate it."""

    scope: ClassVar[Scope] = Scope.ADMIN  # checked by UpdateTenant, which it calls

    update: UpdateTenant
    status: TenantStatus

    async def __call__(self, actor: Principal, tenant_id: str) -> TenantView:
        return await self.update(actor, tenant_id, TenantChanges(status=self.status))


@dataclass(frozen=True, slots=True)
class Tenants:
    """/api/tenants/atual (the caller's own) and /api/admin/tenants."""

    current: CurrentTenant
    list: ListTenants
    get: GetTenant
    create: CreateTenant
    update: UpdateTenant
    suspend: SetTenantStatus
    reactivate: SetTenantStatus


def tenants(p: Ports, *, revoker: Revoker) -> Tenants:
    update = UpdateTenant(p.uow, revoker, p.clock)
    return Tenants(
        current=CurrentTenant(p.uow),
        list=ListTenants(p.uow),
        get=GetTenant(p.uow),
        create=CreateTenant(Onboard(p.uow, p.hasher, p.ids, p.clock, revoker)),
        update=update,
        suspend=SetTenantStatus(update, TenantStatus.SUSPENDED),
        reactivate=SetTenantStatus(update, TenantStatus.ACTIVE),
    )
