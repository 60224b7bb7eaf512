"""Shared tools: where their definitions come from, the OAuth client that talks to providers,
and the repositories of authorization states, linked accounts and client syncs."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.shared_tools import ClientSync, OAuthLink, OAuthProvider, OAuthState, SharedTool


class SharedToolDirectory(Protocol):
    """The shared tools and their OAuth providers (configuration, not tenant data)."""

    async def tools(self) -> list[SharedTool]:
        """Every shared tool, by id."""
        ...

    async def tool(self, tool_id: str) -> SharedTool | None: ...

    async def provider(self, provider_id: str) -> OAuthProvider | None: ...


class TokenGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What a token endpoint answered (RFC 6749 section 5.1)."""

    access_token: str
    refresh_token: str | None = None
    expires_in: float | None = None
    scope: str | None = None


class OAuthClient(Protocol):
    """The token and userinfo calls to a provider.

    Raises ``ValidationFailed`` (code ``oauth_invalid_grant``) when the provider refuses a code or a
    refresh token (RFC 6749 ``invalid_grant``), and ``UpstreamFailed`` when it fails, is unreachable
    or answers something that is not a token response.
    """

    async def exchange_code(
        self, provider: OAuthProvider, *, code: str, verifier: str, redirect_uri: str
    ) -> TokenGrant: ...

    async def refresh(self, provider: OAuthProvider, *, refresh_token: str) -> TokenGrant: ...

    async def user_email(self, provider: OAuthProvider, *, access_token: str) -> str | None:
        """The account's email, or None when the provider has no userinfo endpoint or gives none."""
        ...


class OAuthStateRepository(Protocol):
    async def add(self, state: OAuthState) -> None: ...

    async def get(self, state_id: str) -> OAuthState | None: ...

    async def consume(self, state_id: str, at: datetime) -> bool:
        """Atomically mark the state used; False if it already was (a replay, or a lost race)."""
        ...

    async def purge(self, before: datetime) -> int:
        """Forget states that expired before ``before``. Returns how many."""
        ...


class OAuthLinkRepository(Protocol):
    async def get(self, tenant_id: str, user_id: str, tool_id: str) -> OAuthLink | None: ...

    async def put(self, link: OAuthLink) -> None:
        """Insert, or replace the link of the same tenant, user and tool."""
        ...

    async def list_for_user(self, tenant_id: str, user_id: str) -> list[OAuthLink]:
        """By tool id."""
        ...

    async def delete(self, tenant_id: str, user_id: str, tool_id: str) -> bool: ...


class ClientSyncRepository(Protocol):
    async def add(self, sync: ClientSync) -> None: ...

    async def list(self, tenant_id: str, instance_id: str, page: PageRequest) -> tuple[list[ClientSync], int]:
        """A page of one instance's syncs in the tenant, newest first, and the total."""
        ...


class SiteConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How this server is reached from outside, for URLs it hands out (OAuth redirect, MCP client config)."""

    public_url: str | None = None
    """e.g. ``https://tesserra.example.com``; None: the URL the request came in on."""
    oauth_return_url: str | None = None
    """Where the browser goes after the OAuth callback; None: the callback answers JSON."""
    oauth_state_ttl_seconds: float = 600.0
