"""What an operator does from the shell: the first owner, more administrators, keys for a user."""

from __future__ import annotations

from dataclasses import dataclass

from tesserra_core.domain.identity import AuthMethod, Principal, Scope, Tier, normalize_email
from tesserra_core.domain.text import Input, Line, Text
from tesserra_core.errors import Conflict, NotFound, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.usecases.api_keys import GenerateApiKey, NewApiKey
from tesserra_core.usecases.credentials import Revoker
from tesserra_core.usecases.tenants import NewTenant, Onboard
from tesserra_core.usecases.views import NewApiKeyView, TenantView


class NewAdmin(Input, frozen=True):
    email: Line
    password: Text
    tenant_name: Line = "Default"
    name: Line | None = None


@dataclass(frozen=True, slots=True)
class CreateAdmin:
    """A new tenant owned by a new platform administrator."""

    onboard: Onboard

    async def __call__(self, cmd: NewAdmin) -> TenantView:
        return await self.onboard(
            NewTenant(name=cmd.tenant_name, owner_email=cmd.email, owner_password=cmd.password, owner_name=cmd.name),
            platform_admin=True,
        )


@dataclass(frozen=True, slots=True)
class EnsureFirstOwner:
    """On an empty database, create the first tenant and its owner so that a newcomer can log in. Several
    nodes starting together on one empty database make one owner: the others find it made (False)."""

    uow: UnitOfWorkFactory
    create_admin: CreateAdmin

    async def __call__(self, email: str, password: str) -> bool:
        if await self._anyone():
            return False
        try:
            await self.create_admin(NewAdmin(email=email, password=password))
        except Conflict:  # its tenant's slug or its email: another node's first start made them meanwhile
            if await self._anyone():
                return False
            raise
        return True

    async def _anyone(self) -> bool:
        async with self.uow(read_only=True) as uow:
            return await uow.users.count() > 0


class KeyForUser(Input, frozen=True):
    email: Line
    name: Line
    tenant_id: Line | None = None
    scopes: list[Line] | None = None
    tier: Tier | None = None


@dataclass(frozen=True, slots=True)
class MintKeyForUser:
    """Mints a key as if the user had asked for it: it gets at most their rights."""

    uow: UnitOfWorkFactory
    generate: GenerateApiKey

    async def __call__(self, cmd: KeyForUser) -> NewApiKeyView:
        email = normalize_email(cmd.email)
        async with self.uow(read_only=True) as uow:
            user = await uow.users.get_by_email(email)
            memberships = await uow.memberships.list_for_user(user.id) if user else []
        membership = next((m for m in memberships if cmd.tenant_id in (None, m.tenant_id)), None)
        if user is None or membership is None:
            raise NotFound("no such user in that tenant", code="user_not_found")
        owner = Principal.member(user, membership, AuthMethod.JWT, "shell")
        try:
            scopes = None if cmd.scopes is None else [Scope(s) for s in cmd.scopes]
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValidationFailed(f"unknown scope; known scopes: {known}", code="invalid_scopes") from None
        return await self.generate(owner, NewApiKey(name=cmd.name, scopes=scopes, tier=cmd.tier))


@dataclass(frozen=True, slots=True)
class Operators:
    """The operator's commands (``tesserra admin``), not routes."""

    create_admin: CreateAdmin
    ensure_first_owner: EnsureFirstOwner
    mint_key_for_user: MintKeyForUser


def operators(p: Ports, *, revoker: Revoker, generate: GenerateApiKey) -> Operators:
    create_admin = CreateAdmin(Onboard(p.uow, p.hasher, p.ids, p.clock, revoker))
    return Operators(
        create_admin=create_admin,
        ensure_first_owner=EnsureFirstOwner(p.uow, create_admin),
        mint_key_for_user=MintKeyForUser(p.uow, generate),
    )
