"""Linked accounts' tokens: finding a tool's provider and the caller's link (Tools), sealing and opening
tokens (Vault), and a valid access token for the server's own tool sessions (AccessTokenFor), refreshed
when it is about to expire. Nothing here returns a token to a client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.shared_tools import (
    OAuthLink,
    OAuthProvider,
    OAuthState,
    SharedTool,
    link_context,
)
from tesserra_core.errors import (
    Conflict,
    SecretUnreadable,
    Unavailable,
    Unprocessable,
    ValidationFailed,
    found,
)
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.shared_tools import OAuthClient, SharedToolDirectory, TokenGrant
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.single_flight import KeyedLocks

REFRESH_SKEW = timedelta(seconds=60)
RELINK = "oauth_relink_required"


@dataclass(frozen=True, slots=True)
class Tools:
    """Looking up a shared tool and its provider, with the errors a caller can act on."""

    directory: SharedToolDirectory

    async def get(self, tool_id: str) -> SharedTool:
        return found(await self.directory.tool(tool_id), "no such shared tool", code="shared_tool_not_found")

    async def provider_of(self, tool: SharedTool) -> OAuthProvider:
        if tool.provider_id is None:
            raise Unprocessable("this shared tool needs no account", code="oauth_not_supported")
        return await self.provider(tool.provider_id)

    async def provider(self, provider_id: str) -> OAuthProvider:
        provider = await self.directory.provider(provider_id)
        if provider is None:
            raise Unavailable("the tool's OAuth provider is not configured on this server", code="oauth_unconfigured")
        return provider

    async def link_of(
        self, uow: UnitOfWorkFactory, actor: Principal, tool: SharedTool
    ) -> tuple[OAuthProvider, OAuthLink | None]:
        """The tool's provider, and the caller's link to it (None until they link an account)."""
        provider = await self.provider_of(tool)
        async with uow(read_only=True) as u:
            link = await u.oauth_links.get(actor.tenant_id, actor.user_id, tool.id)
        return provider, link


@dataclass(frozen=True, slots=True)
class Vault:
    """Seals and opens a link's tokens, bound to its tenant, user and tool."""

    box: SecretBox

    def seal(self, tenant_id: str, user_id: str, tool_id: str, kind: str, token: str) -> str:
        return self.box.seal(token.encode(), context=link_context(tenant_id, user_id, tool_id, kind))

    def open(self, link: OAuthLink, kind: str) -> str:
        sealed = link.access_token_sealed if kind == "access" else link.refresh_token_sealed
        if sealed is None:
            raise SecretUnreadable("no such token")
        return self.box.open(sealed, context=link_context(link.tenant_id, link.user_id, link.tool_id, kind)).decode()

    def link(
        self, base: OAuthLink | None, state: OAuthState, grant: TokenGrant, provider: OAuthProvider, now: datetime
    ) -> OAuthLink:
        """A new link from a grant; a grant without a refresh token keeps the one held."""
        t, u, tool = state.tenant_id, state.user_id, state.tool_id
        refresh = self.seal(t, u, tool, "refresh", grant.refresh_token) if grant.refresh_token else None
        if refresh is None and base is not None and not base.needs_relink:
            refresh = base.refresh_token_sealed
        return OAuthLink(
            tenant_id=t,
            user_id=u,
            tool_id=tool,
            provider_id=provider.id,
            access_token_sealed=self.seal(t, u, tool, "access", grant.access_token),
            refresh_token_sealed=refresh,
            expires_at=_expiry(grant, now),
            scopes=_scopes(grant, provider.scopes),
            email=base.email if base is not None else None,
            linked_at=now,
        )


def _expiry(grant: TokenGrant, now: datetime) -> datetime | None:
    return now + timedelta(seconds=grant.expires_in) if grant.expires_in is not None else None


def _scopes(grant: TokenGrant, fallback: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(grant.scope.split()) if grant.scope is not None else fallback


@dataclass
class AccessTokenFor:
    """A valid access token of the caller's linked account for a tool, refreshed when (nearly) expired.

    For the server's own sessions with tools (never returned to a client). Refreshes are
    single-flight per tenant, user and tool in this process; across processes, a refresh that loses
    the race finds the winner's fresh token in the store.
    """

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory
    vault: Vault
    oauth: OAuthClient
    clock: Clock
    flights: KeyedLocks = field(default_factory=KeyedLocks)

    async def __call__(self, actor: Principal, tool_id: str) -> str:
        actor.require(self.scope)
        return await self.for_user(actor.tenant_id, actor.user_id, tool_id)

    async def for_user(self, tenant_id: str, user_id: str, tool_id: str) -> str:
        tool = await self.tools.get(tool_id)
        await self.tools.provider_of(tool)
        link = await self._load(tenant_id, user_id, tool.id)
        if not link.expired(self.clock.now(), REFRESH_SKEW.total_seconds()):
            return self._open(link, "access")
        async with self.flights.hold((tenant_id, user_id, tool.id)):
            link = await self._load(tenant_id, user_id, tool.id)  # another task may have refreshed it
            if not link.expired(self.clock.now(), REFRESH_SKEW.total_seconds()):
                return self._open(link, "access")
            return await self._refresh(link)

    async def _load(self, tenant_id: str, user_id: str, tool_id: str) -> OAuthLink:
        async with self.uow(read_only=True) as uow:
            link = await uow.oauth_links.get(tenant_id, user_id, tool_id)
        if link is None:
            raise Conflict("link your account for this tool first", code="oauth_not_linked")
        if link.needs_relink:
            raise Conflict("the provider no longer accepts this link; authorize again", code=RELINK)
        return link

    def _open(self, link: OAuthLink, kind: str) -> str:
        try:
            return self.vault.open(link, kind)
        except SecretUnreadable:
            raise Conflict("the stored credentials cannot be read; authorize again", code=RELINK) from None

    async def _refresh(self, link: OAuthLink) -> str:
        if link.refresh_token_sealed is None:
            await self._mark_relink(link)
            raise Conflict("the access token expired and cannot be refreshed; authorize again", code=RELINK)
        refresh_token = self._open(link, "refresh")
        provider = await self.tools.provider(link.provider_id)
        try:
            grant = await self.oauth.refresh(provider, refresh_token=refresh_token)
        except ValidationFailed:
            current = await self._load(link.tenant_id, link.user_id, link.tool_id)
            if current.access_token_sealed != link.access_token_sealed:  # another worker refreshed first
                return self._open(current, "access")
            await self._mark_relink(link)
            raise Conflict("the provider refused the refresh token; authorize again", code=RELINK) from None
        now = self.clock.now()
        refreshed = msgspec.structs.replace(
            link,
            access_token_sealed=self.vault.seal(
                link.tenant_id, link.user_id, link.tool_id, "access", grant.access_token
            ),
            refresh_token_sealed=(
                self.vault.seal(link.tenant_id, link.user_id, link.tool_id, "refresh", grant.refresh_token)
                if grant.refresh_token
                else link.refresh_token_sealed
            ),
            expires_at=_expiry(grant, now),
            scopes=_scopes(grant, link.scopes),
            refreshed_at=now,
        )
        async with self.uow() as uow:
            await uow.oauth_links.put(refreshed)
            await uow.commit()
        return grant.access_token

    async def _mark_relink(self, link: OAuthLink) -> None:
        async with self.uow() as uow:
            current = await uow.oauth_links.get(link.tenant_id, link.user_id, link.tool_id)
            if current is not None and current.access_token_sealed == link.access_token_sealed:
                await uow.oauth_links.put(msgspec.structs.replace(current, needs_relink=True))
                await uow.commit()
