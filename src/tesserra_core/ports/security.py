"""Password hashing, secret digests and access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if it matches. Runs off the event loop; never raises for a mismatch."""
        ...

    async def burn(self, password: str) -> None:
        """Spend the time of one verification, so an unknown account answers as slowly as a known one."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class SecretDigest(Protocol):
    """A keyed, fast, one-way digest for high-entropy secrets (API keys, refresh tokens)."""

    def digest(self, secret: str) -> str: ...

    def matches(self, secret: str, digest: str) -> bool:
        """Constant-time comparison."""
        ...


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    user_id: str
    tenant_id: str
    session_id: str
    role: str
    platform_admin: bool
    issued_at: datetime
    expires_at: datetime


class TokenIssuer(Protocol):
    def issue(self, claims: AccessClaims) -> str: ...

    def decode(self, token: str) -> AccessClaims:
        """Verified claims; raises ``Unauthenticated`` for a bad, expired or tampered token."""
        ...

    def looks_like_token(self, credential: str) -> bool:
        """A cheap syntactic check: is this credential meant for this issuer?"""
        ...


class ProxyClaims(msgspec.Struct, frozen=True, kw_only=True):
    """What a sandbox proxy token grants: one sandbox of one tenant, at one lifecycle generation and
    revocation epoch, a set of its declared ports, until ``expires_at``."""

    token_id: str
    sandbox_id: str
    tenant_id: str
    user_id: str
    generation: int
    epoch: int
    ports: tuple[int, ...]
    expires_at: datetime


class ProxyTokenCodec(Protocol):
    """Signs proxy tokens and verifies them: a token is worth only what its signature covers, and is
    checked against the sandbox as stored on every use (generation, epoch, state)."""

    def issue(self, claims: ProxyClaims) -> str: ...

    def decode(self, token: str) -> ProxyClaims:
        """The signed claims (expiry not checked: the caller's clock decides); raises ``Unauthenticated``
        (code ``invalid_proxy_token``) for a malformed, foreign or tampered token."""
        ...
