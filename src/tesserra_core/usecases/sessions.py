"""Login, refresh-token rotation, logout, and who-am-I."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import msgspec

from tesserra_core.domain.identity import (
    EMAIL,
    AuthMethod,
    Membership,
    Principal,
    RefreshToken,
    Session,
    Tenant,
    User,
    normalize_email,
)
from tesserra_core.domain.text import Input, Line, Text
from tesserra_core.errors import Forbidden, RateLimited, Unauthenticated, Unprocessable, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.limits import RateLimiter
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.security import AccessClaims, PasswordHasher, SecretDigest, TokenIssuer
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.caching import Fresh, TaggedCache
from tesserra_core.usecases.credentials import Revoker, principal_tags, session_tag
from tesserra_core.usecases.tenants import PASSWORD_META, check_password
from tesserra_core.usecases.views import MembershipView, MeView, TenantView, UserView


class AuthPolicy(msgspec.Struct, frozen=True):
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    lockout_threshold: int = 5
    lockout_for: timedelta = timedelta(minutes=15)


_MAX_PASSWORD = 1024


class Credentials(Input, frozen=True, forbid_unknown_fields=True):
    email: Annotated[str, EMAIL]
    password: Annotated[
        Text, msgspec.Meta(min_length=1, max_length=_MAX_PASSWORD, examples=["correct horse battery staple"])
    ]
    tenant_id: Annotated[
        Line | None, msgspec.Meta(description="Which of the user's tenants to sign in to; default: the oldest")
    ] = None


class RefreshRequest(Input, frozen=True, forbid_unknown_fields=True):
    refresh_token: Annotated[Line, msgspec.Meta(examples=["01jd3v8k2m4n6p8q0r2s4t6v8w.Zk3f9...y7Q"])]


class TokenPair(msgspec.Struct, frozen=True):
    access_token: Annotated[str, msgspec.Meta(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOi..."])]
    refresh_token: Annotated[
        str, msgspec.Meta(description="Single use: each refresh returns a new one", examples=["01jd3v8k2m...Zk3f9"])
    ]
    expires_in: Annotated[int, msgspec.Meta(description="Seconds the access token lives", examples=[900])]
    token_type: str = "bearer"


_BAD_LOGIN = "invalid email or password"
_ATTEMPTS = "login_attempts"
"""The limiter key of an email's password attempts (followed by a keyed digest of the email)."""


@dataclass(frozen=True, slots=True)
class TokenMinter:
    """Mints the token pair of a session: one signed access token and one rotating refresh token."""

    tokens: TokenIssuer
    digest: SecretDigest
    secrets: SecretGenerator
    ids: IdFactory
    clock: Clock
    policy: AuthPolicy

    async def issue(self, uow: UnitOfWork, session: Session, role: str, platform_admin: bool) -> TokenPair:
        now = self.clock.now()
        secret = self.secrets.token(32)
        refresh = RefreshToken(
            id=self.ids.new(),
            session_id=session.id,
            token_hash=self.digest.digest(secret),
            created_at=now,
            expires_at=now + self.policy.refresh_ttl,
            used_at=None,
        )
        await uow.refresh_tokens.add(refresh)
        claims = AccessClaims(
            token_id=self.ids.new(),
            user_id=session.user_id,
            tenant_id=session.tenant_id,
            session_id=session.id,
            role=role,
            platform_admin=platform_admin,
            issued_at=now,
            expires_at=now + self.policy.access_ttl,
        )
        return TokenPair(
            access_token=self.tokens.issue(claims),
            refresh_token=f"{refresh.id}.{secret}",
            expires_in=int(self.policy.access_ttl.total_seconds()),
        )


@dataclass(frozen=True, slots=True)
class Login:
    """Exchange email and password for an access token (it lives ``expires_in`` seconds) and a rotating refresh
    token, in the tenant ``tenant_id`` names (default: the user's oldest). An unknown email answers exactly as a
    wrong password; repeated failures lock the email for a while (``account_locked``)."""

    # Every attempt on an email (known or not) first reserves one of ``lockout_threshold`` slots in a sliding
    # ``lockout_for`` window, atomically in the shared limiter, so no concurrency lets more passwords than that
    # be tried; a success frees them all (consecutive failures lock). Unknown emails count and cost the same
    # argon2 time, and answer the same, as known ones: neither the status nor the clock tells whether an account
    # exists.

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    issuer: TokenMinter
    clock: Clock
    ids: IdFactory
    policy: AuthPolicy
    limiter: RateLimiter
    digest: SecretDigest

    async def __call__(self, cmd: Credentials) -> TokenPair:
        if not cmd.password or len(cmd.password) > _MAX_PASSWORD:
            raise ValidationFailed(f"password must be 1-{_MAX_PASSWORD} characters", code="invalid_password")
        email = normalize_email(cmd.email)
        attempts = f"{_ATTEMPTS}:{self.digest.digest(email)}"
        await self._reserve_attempt(attempts)
        async with self.uow(read_only=True) as uow:
            user = await uow.users.get_by_email(email)
        if user is None:
            await self.hasher.burn(cmd.password)
            raise Unauthenticated(_BAD_LOGIN, code="invalid_login")
        if not await self.hasher.verify(user.password_hash, cmd.password):
            raise Unauthenticated(_BAD_LOGIN, code="invalid_login")
        await self.limiter.reset(attempts)
        if not user.active:
            raise Forbidden("this account is disabled", code="account_disabled")
        new_hash = await self.hasher.hash(cmd.password) if self.hasher.needs_rehash(user.password_hash) else None
        async with self.uow() as uow:
            membership, tenant = await _home(uow, user, cmd.tenant_id)
            await uow.users.clear_failed_logins(user.id, new_hash)
            session = Session(
                id=self.ids.new(),
                tenant_id=tenant.id,
                user_id=user.id,
                created_at=self.clock.now(),
                revoked_at=None,
            )
            await uow.sessions.add(session)
            pair = await self.issuer.issue(uow, session, membership.role.value, user.is_platform_admin)
            await uow.commit()
        return pair

    async def _reserve_attempt(self, attempts: str) -> None:
        window = self.policy.lockout_for.total_seconds()
        decision = await self.limiter.hit(attempts, self.policy.lockout_threshold, window)
        if not decision.allowed:
            raise RateLimited(
                "too many failed logins: this account is locked for a while",
                code="account_locked",
                retry_after=decision.reset_after,
            )


async def _home(uow: UnitOfWork, user: User, tenant_id: str | None) -> tuple[Membership, Tenant]:
    """The tenant a login lands in: the one asked for, or the user's oldest membership."""
    if tenant_id is not None:
        membership = await uow.memberships.get(tenant_id, user.id)
    else:
        memberships = await uow.memberships.list_for_user(user.id)
        membership = memberships[0] if memberships else None
    if membership is None:
        raise Forbidden("this account belongs to no such tenant", code="no_membership")
    tenant = await uow.tenants.get(membership.tenant_id)
    if tenant is None or not tenant.active:
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    return membership, tenant


@dataclass(frozen=True, slots=True)
class Refresh:
    """Rotate a refresh token for a new token pair. Presenting an already-rotated one again revokes the whole
    session (``refresh_token_reused``)."""

    uow: UnitOfWorkFactory
    issuer: TokenMinter
    digest: SecretDigest
    revoker: Revoker
    clock: Clock

    async def __call__(self, cmd: RefreshRequest) -> TokenPair:
        token_id, sep, secret = cmd.refresh_token.partition(".")
        if not sep or not token_id or not secret or len(cmd.refresh_token) > 256:
            raise Unauthenticated("invalid refresh token", code="invalid_refresh_token")
        now = self.clock.now()
        reused: Session | None = None
        async with self.uow() as uow:
            token = await uow.refresh_tokens.get(token_id)
            if token is None or not self.digest.matches(secret, token.token_hash):
                raise Unauthenticated("invalid refresh token", code="invalid_refresh_token")
            session = await uow.sessions.get(token.session_id)
            if session is None or session.revoked_at is not None:
                raise Unauthenticated("this session has ended", code="session_revoked")
            if token.expires_at <= now:
                raise Unauthenticated("this refresh token has expired", code="refresh_token_expired")
            if not await uow.refresh_tokens.mark_used(token.id, now):
                await uow.sessions.revoke(session.id, now)
                await self.revoker.publish(uow, session_tag(session.id))
                reused = session
            else:
                user = await uow.users.get(session.user_id)
                membership = await uow.memberships.get(session.tenant_id, session.user_id)
                tenant = await uow.tenants.get(session.tenant_id)
                if user is None or not user.active or membership is None or tenant is None:
                    raise Unauthenticated("this account is no longer active", code="account_inactive")
                if not tenant.active:
                    raise Forbidden("this tenant is suspended", code="tenant_suspended")
                pair = await self.issuer.issue(uow, session, membership.role.value, user.is_platform_admin)
            await uow.commit()
        if reused is not None:
            self.revoker.evict(session_tag(reused.id))
            raise Unauthenticated("refresh token reuse detected: the session was revoked", code="refresh_token_reused")
        return pair


@dataclass(frozen=True, slots=True)
class Logout:
    """End the caller's login session: its refresh tokens and every access token issued in it. An API key is no
    session (``not_a_session``): revoke it instead."""

    uow: UnitOfWorkFactory
    revoker: Revoker
    clock: Clock

    async def __call__(self, actor: Principal) -> None:
        if actor.method is not AuthMethod.JWT:
            raise Unprocessable(
                "logout ends a login session; revoke an API key with DELETE /api/auth/keys/{id}",
                code="not_a_session",
            )
        async with self.uow() as uow:
            await uow.sessions.revoke(actor.credential_id, self.clock.now())
            await self.revoker.publish(uow, session_tag(actor.credential_id))
            await uow.commit()
        self.revoker.evict(session_tag(actor.credential_id))


class PasswordChange(Input, frozen=True, forbid_unknown_fields=True):
    current_password: Annotated[Text, msgspec.Meta(min_length=1, max_length=_MAX_PASSWORD)]
    new_password: Annotated[Text, PASSWORD_META]


@dataclass(frozen=True, slots=True)
class ChangePassword:
    """Change the caller's own password, proving the current one. Only a login session may (an API key answers
    ``not_a_session``); a wrong current password answers 400 ``invalid_password`` and counts as a failed login
    of that email (so a stolen session cannot try passwords faster than the login form). The user's web console
    sessions on other logins end: whoever held the old password is signed out of the console everywhere."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    policy: AuthPolicy
    limiter: RateLimiter
    digest: SecretDigest
    revoker: Revoker
    clock: Clock

    async def __call__(self, actor: Principal, cmd: PasswordChange) -> None:
        if actor.method is not AuthMethod.JWT:
            raise Unprocessable("only a signed-in person changes their password", code="not_a_session")
        new_password = check_password(cmd.new_password)
        async with self.uow(read_only=True) as uow:
            user = await uow.users.get(actor.user_id)
        if user is None:
            raise Unauthenticated("this account is no longer active", code="account_inactive")
        attempts = f"{_ATTEMPTS}:{self.digest.digest(user.email)}"
        decision = await self.limiter.hit(
            attempts, self.policy.lockout_threshold, self.policy.lockout_for.total_seconds()
        )
        if not decision.allowed:
            raise RateLimited(
                "too many wrong passwords: wait a while", code="account_locked", retry_after=decision.reset_after
            )
        if not await self.hasher.verify(user.password_hash, cmd.current_password):
            raise ValidationFailed("the current password is wrong", code="invalid_password")
        await self.limiter.reset(attempts)
        new_hash = await self.hasher.hash(new_password)
        ended: list[str] = []
        async with self.uow() as uow:
            await uow.users.update(msgspec.structs.replace(user, password_hash=new_hash))
            for console in await uow.console_sessions.list_for_user(user.id):
                if console.login_id is not None and console.login_id != actor.credential_id:
                    await uow.console_sessions.delete(console.key)
                    await uow.sessions.revoke(console.login_id, self.clock.now())
                    await self.revoker.publish(uow, session_tag(console.login_id))
                    ended.append(console.login_id)
            await uow.commit()
        self.revoker.evict(*(session_tag(login) for login in ended))


@dataclass(frozen=True, slots=True)
class Me:
    """Who is calling: user, tenant, role, scopes, tier, how they authenticated, and their memberships."""

    # Served from a per-worker cache that every revocation of the caller's key, session, user or tenant evicts
    # (as do changes to the user or the tenant), so a hot ``/auth/me`` costs no database round trip.

    uow: UnitOfWorkFactory
    cache: TaggedCache[MeView]
    clock: Clock
    ttl: float = 60.0

    async def __call__(self, actor: Principal) -> MeView:
        now = self.clock.monotonic()

        async def load() -> Fresh[MeView]:
            return await self._load(actor), now + self.ttl, principal_tags(actor)

        view = await self.cache.fetch(actor.subject, now, load)
        if view.acting_user_id != actor.acting_user_id:
            view = msgspec.structs.replace(view, acting_user_id=actor.acting_user_id)
        return view

    async def _load(self, actor: Principal) -> MeView:
        async with self.uow(read_only=True) as uow:
            user = await uow.users.get(actor.user_id)
            tenant = await uow.tenants.get(actor.tenant_id)
            memberships = await uow.memberships.list_for_user(actor.user_id)
        if user is None or tenant is None:
            raise Unauthenticated("this account is no longer active", code="account_inactive")
        return MeView(
            user=UserView.of(user),
            tenant=TenantView.of(tenant),
            role=actor.role,
            scopes=sorted(s.value for s in actor.scopes),
            tier=actor.tier,
            auth_method=actor.method,
            credential_id=actor.credential_id,
            acting_user_id=None,
            memberships=[MembershipView(tenant_id=m.tenant_id, role=m.role) for m in memberships],
        )


@dataclass(frozen=True, slots=True)
class Sessions:
    """POST /api/auth/login, /api/auth/refresh, /api/auth/logout, /api/auth/password; GET /api/auth/me."""

    login: Login
    refresh: Refresh
    logout: Logout
    me: Me
    change_password: ChangePassword


def sessions(p: Ports, *, policy: AuthPolicy, revoker: Revoker, profiles: TaggedCache[MeView]) -> Sessions:
    minter = TokenMinter(p.tokens, p.digest, p.secrets, p.ids, p.clock, policy)
    return Sessions(
        login=Login(p.uow, p.hasher, minter, p.clock, p.ids, policy, p.rate_limiter, p.digest),
        refresh=Refresh(p.uow, minter, p.digest, revoker, p.clock),
        logout=Logout(p.uow, revoker, p.clock),
        me=Me(p.uow, profiles, p.clock),
        change_password=ChangePassword(p.uow, p.hasher, policy, p.rate_limiter, p.digest, revoker, p.clock),
    )
