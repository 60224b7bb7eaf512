"""An in-process OAuth 2.0 authorization server that is also the ``OAuthClient`` port talking to it.

For unit tests and library users: it keeps codes, PKCE challenges, access and refresh tokens like
a real provider (codes single-use, refresh tokens rotated, invalid_grant on any mismatch), and
passes the same contract suite as the httpx client against a real server on loopback.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from tesserra_core.domain.shared_tools import OAuthProvider, pkce_challenge
from tesserra_core.errors import UpstreamFailed, ValidationFailed
from tesserra_core.ports.shared_tools import TokenGrant


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    email: str
    scope: str


@dataclass
class MemoryOAuthServer:
    clock: Callable[[], float]
    access_ttl: float = 3600.0
    rotate_refresh_tokens: bool = True
    failing: bool = False
    """While True, every call answers as a provider that is down (502)."""
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)
    """access token -> (email, expires at)"""
    refresh_tokens: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """refresh token -> (client id, email, scope)"""
    token_requests: int = 0

    def authorize(self, client_id: str, redirect_uri: str, challenge: str, email: str, scope: str = "") -> str:
        """What the browser step yields: a code for ``email``'s account, bound to the challenge."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Code(client_id, redirect_uri, challenge, email, scope)
        return code

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def _issue(self, client_id: str, email: str, scope: str) -> TokenGrant:
        access = secrets.token_urlsafe(24)
        self.access[access] = (email, self.clock() + self.access_ttl)
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = (client_id, email, scope)
        return TokenGrant(access_token=access, refresh_token=refresh, expires_in=self.access_ttl, scope=scope or None)

    async def _check_up(self) -> None:
        await asyncio.sleep(0)  # a real provider is a network round trip away: let other tasks run
        if self.failing:
            raise UpstreamFailed("the OAuth provider refused the token request (HTTP 503)", code="oauth_token_failed")

    async def exchange_code(
        self, provider: OAuthProvider, *, code: str, verifier: str, redirect_uri: str
    ) -> TokenGrant:
        await self._check_up()
        self.token_requests += 1
        grant = self.codes.pop(code, None)
        if (
            grant is None
            or grant.client_id != provider.client_id
            or grant.redirect_uri != redirect_uri
            or pkce_challenge(verifier) != grant.challenge
        ):
            raise ValidationFailed("the provider refused the grant (invalid_grant)", code="oauth_invalid_grant")
        return self._issue(provider.client_id, grant.email, grant.scope)

    async def refresh(self, provider: OAuthProvider, *, refresh_token: str) -> TokenGrant:
        await self._check_up()
        self.token_requests += 1
        held = self.refresh_tokens.get(refresh_token)
        if held is None or held[0] != provider.client_id:
            raise ValidationFailed("the provider refused the grant (invalid_grant)", code="oauth_invalid_grant")
        if self.rotate_refresh_tokens:
            del self.refresh_tokens[refresh_token]
        grant = self._issue(*held)
        if not self.rotate_refresh_tokens:
            del self.refresh_tokens[grant.refresh_token or ""]
            return TokenGrant(access_token=grant.access_token, expires_in=grant.expires_in, scope=grant.scope)
        return grant

    async def user_email(self, provider: OAuthProvider, *, access_token: str) -> str | None:
        await self._check_up()
        if provider.userinfo_url is None:
            return None
        held = self.access.get(access_token)
        if held is None or held[1] <= self.clock():
            raise UpstreamFailed("the OAuth provider's userinfo endpoint answered 401", code="oauth_userinfo_failed")
        return held[0]
