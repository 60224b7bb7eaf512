"""Resolving a credential (API key or access JWT) to a Principal, with a revocation-aware cache.

A verified credential is cached until it expires, so a repeated key or token costs a dict
lookup, not a JWT decode or a database round trip. Every revocation (key, session, user,
tenant) is published to a durable feed; each worker's ``RevocationWatcher`` (runners) polls it and
drops the cached entries it names, so a revocation takes effect everywhere within one poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from tesserra_core.domain.identity import (
    ApiKey,
    AuthMethod,
    Membership,
    Principal,
    Tenant,
    Tier,
    User,
)
from tesserra_core.errors import Forbidden, Unauthenticated, ValidationFailed
from tesserra_core.ports.persistence import Revocation, UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.security import SecretDigest, TokenIssuer
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.caching import CacheSet, Fresh, TaggedCache

API_KEY_MARK = "tessera_"
_MAX_ACTING_USER = 128


def key_tag(key_id: str) -> str:
    return f"key:{key_id}"


def session_tag(session_id: str) -> str:
    return f"session:{session_id}"


def user_tag(user_id: str) -> str:
    return f"user:{user_id}"


def tenant_tag(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def principal_tags(principal: Principal) -> tuple[str, ...]:
    """What revokes a principal: its key or session, its user, its tenant."""
    own = key_tag if principal.method is AuthMethod.API_KEY else session_tag
    return own(principal.credential_id), user_tag(principal.user_id), tenant_tag(principal.tenant_id)


def revocation_for(tag: str) -> Revocation:
    kind, _, subject = tag.partition(":")
    return Revocation(kind, subject)


CREDENTIAL_HEADERS = {
    "authorization": "Authorization",
    "x-tesserra-api-key": "X-Tesserra-Api-Key",
    "x-api-key": "X-API-Key",
}
"""The headers that may carry a credential (lowercase name -> how the documentation spells it)."""
ACTING_USER_HEADER = "x-user-id"
_READ = frozenset(name.encode() for name in (*CREDENTIAL_HEADERS, ACTING_USER_HEADER))

HeaderFields = Iterable[tuple[bytes, bytes]]
"""A request's header fields in order, repeats included, as (lowercase name, value) bytes."""


def auth_headers(fields: HeaderFields) -> dict[str, list[str]]:
    """Every value of the headers authentication reads, by lowercase name (repeats kept)."""
    found: dict[str, list[str]] = {}
    for name, value in fields:
        if name in _READ:
            found.setdefault(name.decode(), []).append(value.decode("latin-1"))
    return found


def credential_from_headers(headers: dict[str, list[str]]) -> str | None:
    """The one credential a request carries, in ``Authorization: Bearer``, ``X-Tesserra-Api-Key``
    or ``X-API-Key`` (blank API-key headers ignored). Two credentials, even twice the same header,
    are refused: which one wins must never decide whether a request is accepted."""
    given = [
        (name, value)
        for name in CREDENTIAL_HEADERS
        for value in headers.get(name, ())
        if name == "authorization" or value.strip()
    ]
    if len(given) > 1:
        sent = ", ".join(CREDENTIAL_HEADERS[name] for name, _ in given)
        raise ValidationFailed(
            f"send one credential per request; this one carries several ({sent})", code="ambiguous_credentials"
        )
    if not given:
        return None
    name, value = given[0]
    if name == "authorization":
        scheme, _, value = value.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated(
                "the Authorization header must be 'Bearer <token or API key>'", code="bad_auth_header"
            )
    return value.strip()


def acting_user_from_headers(headers: dict[str, list[str]]) -> str | None:
    """The X-User-Id an admin key acts for, if any; sent twice, it is refused rather than guessed."""
    values = headers.get(ACTING_USER_HEADER, [])
    if len(values) > 1:
        raise ValidationFailed("send X-User-Id once; this request carries it several times", code="ambiguous_user_id")
    return values[0] if values else None


def split_api_key(credential: str) -> tuple[str, str] | None:
    """``tessera_<prefix>_<secret>`` -> (prefix, secret), or None if it is not shaped like one."""
    if not credential.startswith(API_KEY_MARK):
        return None
    prefix, sep, secret = credential[len(API_KEY_MARK) :].partition("_")
    if not sep or not prefix.isalnum() or len(prefix) > 32 or not 32 <= len(secret) <= 128:
        return None
    return prefix, secret


@dataclass
class KeyUsage:
    """``last_used_at`` for API keys, written behind in batches instead of once per request."""

    _pending: dict[str, float] = field(default_factory=dict)

    def record(self, key_id: str, at: float) -> None:
        self._pending[key_id] = at

    def drain(self) -> dict[str, float]:
        pending, self._pending = self._pending, {}
        return pending


@dataclass
class Authenticate:
    uow: UnitOfWorkFactory
    tokens: TokenIssuer
    digest: SecretDigest
    clock: Clock
    cache: TaggedCache[Principal]
    usage: KeyUsage
    key_cache_seconds: float = 300.0

    async def from_headers(self, fields: HeaderFields) -> Principal:
        """The caller of a request, from its header fields (see ``credential_from_headers``) and X-User-Id."""
        headers = auth_headers(fields)
        credential = credential_from_headers(headers)
        acting_user_id = acting_user_from_headers(headers)
        if not credential:
            raise Unauthenticated(
                "credentials required: send Authorization: Bearer <token or API key>",
                code="missing_credentials",
            )
        return await self(credential, acting_user_id)

    async def __call__(self, credential: str, acting_user_id: str | None = None) -> Principal:
        now = self.clock.monotonic()

        async def verify() -> Fresh[Principal]:
            principal, expires, tags = await self._verify(credential)
            return principal, min(expires, now + self.key_cache_seconds), tags

        principal = await self.cache.fetch(credential, now, verify)
        if principal.method is AuthMethod.API_KEY:
            self.usage.record(principal.credential_id, now)
        if acting_user_id is not None:
            return self._acting_for(principal, acting_user_id)
        return principal

    @staticmethod
    def _acting_for(principal: Principal, acting_user_id: str) -> Principal:
        acting = acting_user_id.strip()
        if not acting or len(acting) > _MAX_ACTING_USER or not acting.isprintable():
            raise ValidationFailed("X-User-Id must be 1-128 printable characters", code="invalid_user_id")
        if principal.method is not AuthMethod.API_KEY or principal.tier is not Tier.ADMIN:
            raise Forbidden("X-User-Id is accepted only with an admin API key", code="admin_key_required")
        return msgspec.structs.replace(principal, acting_user_id=acting)

    async def _verify(self, credential: str) -> tuple[Principal, float, tuple[str, ...]]:
        parts = split_api_key(credential)
        if parts is not None:
            return await self._verify_key(*parts)
        if self.tokens.looks_like_token(credential):
            return await self._verify_jwt(credential)
        raise Unauthenticated("invalid credentials", code="invalid_credentials")

    async def _verify_key(self, prefix: str, secret: str) -> tuple[Principal, float, tuple[str, ...]]:
        async with self.uow(read_only=True) as uow:
            key = await uow.api_keys.get_by_prefix(prefix)
            if key is None or not self.digest.matches(secret, key.secret_hash):
                raise Unauthenticated("invalid API key", code="invalid_api_key")
            now = self.clock.now()
            if key.revoked_at is not None:
                raise Unauthenticated("this API key was revoked", code="api_key_revoked")
            if key.expires_at is not None and key.expires_at <= now:
                raise Unauthenticated("this API key has expired", code="api_key_expired")
            user, membership, _tenant = await _standing(uow, key.created_by, key.tenant_id)
        principal = _key_principal(key, user, membership)
        expires = self._monotonic_at(key.expires_at) if key.expires_at else float("inf")
        return principal, expires, principal_tags(principal)

    async def _verify_jwt(self, token: str) -> tuple[Principal, float, tuple[str, ...]]:
        claims = self.tokens.decode(token)
        async with self.uow(read_only=True) as uow:
            session = await uow.sessions.get(claims.session_id)
            if session is None or session.revoked_at is not None or session.user_id != claims.user_id:
                raise Unauthenticated("this session has ended", code="session_revoked")
            user, membership, _tenant = await _standing(uow, claims.user_id, claims.tenant_id)
        principal = Principal.member(user, membership, AuthMethod.JWT, session.id)
        return principal, self._monotonic_at(claims.expires_at), principal_tags(principal)

    def _monotonic_at(self, at: datetime) -> float:
        return self.clock.monotonic() + (at - self.clock.now()).total_seconds()


async def _standing(uow: UnitOfWork, user_id: str, tenant_id: str) -> tuple[User, Membership, Tenant]:
    """The user, their membership and the tenant, all still in good standing."""
    user = await uow.users.get(user_id)
    membership = await uow.memberships.get(tenant_id, user_id)
    if user is None or not user.active or membership is None:
        raise Unauthenticated("this account is no longer active", code="account_inactive")
    tenant = await uow.tenants.get(tenant_id)
    if tenant is None:
        raise Unauthenticated("this account is no longer active", code="account_inactive")
    if not tenant.active:
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    return user, membership, tenant


def _key_principal(key: ApiKey, user: User, membership: Membership) -> Principal:
    """A key's rights shrink with its creator's: it never holds more than they hold now."""
    creator = Principal.member(user, membership, AuthMethod.API_KEY, key.id)
    return msgspec.structs.replace(
        creator,
        scopes=key.scopes & creator.scopes,
        tier=key.tier if creator.tier.covers(key.tier) else creator.tier,
    )


@dataclass
class Revoker:
    """Publishes revocations in the caller's transaction; evicts this worker's caches after commit."""

    caches: CacheSet
    clock: Clock

    async def publish(self, uow: UnitOfWork, *tags: str) -> None:
        now = self.clock.now()
        for tag in tags:
            await uow.revocations.publish(revocation_for(tag), now)

    def evict(self, *tags: str) -> None:
        self.caches.evict(tags)
