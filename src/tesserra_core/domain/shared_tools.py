"""Shared tools and per-user OAuth: provider configurations, authorization states and linked accounts."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import msgspec


class OAuthProvider(msgspec.Struct, frozen=True, kw_only=True):
    """An OAuth 2.0 authorization server this platform is a registered client of."""

    id: str
    name: str
    authorize_url: str
    token_url: str
    userinfo_url: str | None = None
    """Answers the account's ``email`` for a bearer access token (OpenID Connect userinfo or alike)."""
    client_id: str
    client_secret: str | None = None
    """None for a public client (PKCE alone)."""
    scopes: tuple[str, ...] = ()


class SharedTool(msgspec.Struct, frozen=True, kw_only=True):
    """A tool every member may use with their own account at a provider (linked per user)."""

    id: str
    name: str
    description: str = ""
    provider_id: str | None = None
    """The OAuth provider a user links their account at; None when the tool needs no account."""


class OAuthState(msgspec.Struct, frozen=True, kw_only=True):
    """One authorization attempt: who started it, for which tool, its PKCE verifier (sealed), until when."""

    id: str
    tenant_id: str
    user_id: str
    tool_id: str
    provider_id: str
    redirect_uri: str
    verifier_sealed: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class OAuthLink(msgspec.Struct, frozen=True, kw_only=True):
    """A user's linked account for one shared tool. Tokens are sealed by the secret box, never plain."""

    tenant_id: str
    user_id: str
    tool_id: str
    provider_id: str
    access_token_sealed: str
    refresh_token_sealed: str | None
    expires_at: datetime | None
    scopes: tuple[str, ...]
    email: str | None
    linked_at: datetime
    refreshed_at: datetime | None = None
    needs_relink: bool = False
    """Set when the provider refused the refresh token: the user must authorize again."""

    def expired(self, now: datetime, skew_seconds: float = 0.0) -> bool:
        return self.expires_at is not None and (self.expires_at - now).total_seconds() <= skew_seconds


def link_context(tenant_id: str, user_id: str, tool_id: str, kind: str) -> str:
    """Where a sealed token belongs: it opens for this tenant, user, tool and kind only."""
    return f"oauth-link\x00{tenant_id}\x00{user_id}\x00{tool_id}\x00{kind}"


def state_context(state_id: str) -> str:
    return f"oauth-state\x00{state_id}"


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class ClientSync(msgspec.Struct, frozen=True, kw_only=True):
    """An MCP client told us it synced its configuration for an instance."""

    id: str
    tenant_id: str
    user_id: str
    instance_id: str
    client: str
    client_version: str | None
    tool_count: int | None
    status: str
    at: datetime
