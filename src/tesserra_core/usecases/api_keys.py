"""API keys: minted with least privilege, shown once, stored as a prefix and a keyed digest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.identity import ApiKey, Principal, Role, Scope, Tier
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, check_name, name_meta
from tesserra_core.errors import Forbidden, NotFound, Unprocessable, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.security import SecretDigest
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.credentials import API_KEY_MARK, Revoker, key_tag
from tesserra_core.usecases.views import ApiKeyView, NewApiKeyView

PREFIX_LENGTH = 12
SECRET_BYTES = 32
_MAX_NAME = 100


class NewApiKey(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(_MAX_NAME), msgspec.Meta(examples=["ci-deploy"])]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, examples=[["profile:read", "projects:read"]])] | None = (
        None
    )
    """Defaults to the caller's scopes, less ``admin`` (which must be asked for by name)."""
    tier: Tier | None = None
    """Defaults to the caller's tier, at most ``standard`` (``admin`` must be asked for by name)."""
    expires_at: Annotated[
        datetime | None, msgspec.Meta(description="A future time, with its offset (422 invalid_expiry if past)")
    ] = None


def _manages_all_keys(actor: Principal) -> bool:
    return actor.is_platform_admin or actor.role in (Role.OWNER, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class GenerateApiKey:
    """Mint an API key with at most the caller's scopes and tier (by default the caller's scopes less ``admin``,
    and their tier up to ``standard``). The secret is shown only in this answer."""

    scope: ClassVar[Scope] = Scope.KEYS_WRITE

    uow: UnitOfWorkFactory
    digest: SecretDigest
    secrets: SecretGenerator
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewApiKey) -> NewApiKeyView:
        actor.require(self.scope)
        name = check_name("name", cmd.name, _MAX_NAME)
        scopes = self._scopes(actor, cmd.scopes)
        tier = cmd.tier or (Tier.STANDARD if actor.tier is Tier.ADMIN else actor.tier)
        if not actor.tier.covers(tier):
            raise Forbidden(f"you may not mint a key above your own tier ({actor.tier.value})", code="tier_escalation")
        now = self.clock.now()
        if cmd.expires_at is not None and cmd.expires_at.tzinfo is None:
            raise ValidationFailed("expires_at must be a time with a timezone", code="invalid_expiry")
        if cmd.expires_at is not None and cmd.expires_at <= now:  # depends on now: semantic, not the schema's
            raise Unprocessable("expires_at must be in the future", code="invalid_expiry")
        prefix = self.secrets.alphanumeric(PREFIX_LENGTH)
        secret = self.secrets.token(SECRET_BYTES)
        key = ApiKey(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            created_by=actor.user_id,
            name=name,
            prefix=prefix,
            secret_hash=self.digest.digest(secret),
            scopes=scopes,
            tier=tier,
            created_at=now,
            expires_at=cmd.expires_at,
            last_used_at=None,
            revoked_at=None,
        )
        async with self.uow() as uow:
            await uow.api_keys.add(key)
            await uow.commit()
        return NewApiKeyView(key=f"{API_KEY_MARK}{prefix}_{secret}", api_key=ApiKeyView.of(key))

    @staticmethod
    def _scopes(actor: Principal, requested: Sequence[str] | None) -> frozenset[Scope]:
        if requested is None:
            return actor.scopes - {Scope.ADMIN}
        if not requested:
            raise ValidationFailed("scopes must name at least one scope", code="invalid_scopes")
        try:
            scopes = frozenset(Scope(s) for s in requested)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValidationFailed(f"unknown scope; known scopes: {known}", code="invalid_scopes") from None
        beyond = scopes - actor.scopes
        if beyond:
            raise Forbidden(
                f"you may not grant scopes you do not hold: {', '.join(sorted(beyond))}",
                code="scope_escalation",
            )
        return scopes


@dataclass(frozen=True, slots=True)
class ListApiKeys:
    """The tenant's API keys (for owners and admins) or the caller's own, newest first. Secrets are never
    shown."""

    scope: ClassVar[Scope] = Scope.KEYS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[ApiKeyView]:
        actor.require(self.scope)
        created_by = None if _manages_all_keys(actor) else actor.user_id
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.api_keys.list(actor.tenant_id, page, created_by), ApiKeyView.of)


@dataclass(frozen=True, slots=True)
class RevokeApiKey:
    """Revoke an API key: it stops working on every worker within a second. Owners and admins may revoke any key
    of the tenant, others their own."""

    scope: ClassVar[Scope] = Scope.KEYS_WRITE

    uow: UnitOfWorkFactory
    revoker: Revoker
    clock: Clock

    async def __call__(self, actor: Principal, key_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            key = await uow.api_keys.get(actor.tenant_id, key_id)
            if key is None or not (_manages_all_keys(actor) or key.created_by == actor.user_id):
                raise NotFound("no such API key", code="api_key_not_found")
            if await uow.api_keys.revoke(actor.tenant_id, key_id, self.clock.now()):
                await self.revoker.publish(uow, key_tag(key_id))
            await uow.commit()
        self.revoker.evict(key_tag(key_id))


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """/api/auth/keys."""

    generate: GenerateApiKey
    list: ListApiKeys
    revoke: RevokeApiKey


def api_keys(p: Ports, *, revoker: Revoker) -> ApiKeys:
    return ApiKeys(
        generate=GenerateApiKey(p.uow, p.digest, p.secrets, p.ids, p.clock),
        list=ListApiKeys(p.uow),
        revoke=RevokeApiKey(p.uow, revoker, p.clock),
    )
