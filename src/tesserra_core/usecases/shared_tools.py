"""Shared tools and per-user OAuth: start an authorization, complete it, read its status, hand out tokens.

Every link belongs to one tenant, user and tool; its tokens are sealed to exactly that (the secret
box's context), so a row copied to another user does not open. Nothing here returns a token to a
client: ``AccessTokenFor`` is for the server's own tool sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.shared_tools import (
    OAuthLink,
    OAuthProvider,
    OAuthState,
    SharedTool,
    link_context,
    pkce_challenge,
    state_context,
)
from tesserra_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    SecretUnreadable,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
    ValidationFailed,
)
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.security import SecretDigest
from tesserra_core.ports.shared_tools import OAuthClient, SharedToolDirectory, SiteConfig, TokenGrant
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.single_flight import KeyedLocks

CALLBACK_PATH = "/api/auth/callback"
VERIFIER_BYTES = 48  # 64 characters: inside RFC 7636's 43-128
REFRESH_SKEW = timedelta(seconds=60)
"""An access token this close to its expiry is refreshed before it is handed out."""
STATE_RETENTION = timedelta(hours=1)
_STATE = re.compile(r"^([0-9A-Za-z]{1,40})\.([0-9a-f]{64})$")
RELINK = "oauth_relink_required"
_PROVIDER_ERROR = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SharedToolView(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    provider_id: str | None
    requires_oauth: bool
    linked: bool
    """Whether the caller has linked their account (always False for tools without OAuth)."""
    needs_relink: bool


class OAuthStartView(msgspec.Struct, frozen=True):
    tool_id: str
    provider_id: str
    authorization_url: str
    """Open it in the user's browser; the provider sends them back to /api/auth/callback."""
    state: str
    expires_at: datetime


class OAuthStatusView(msgspec.Struct, frozen=True):
    tool_id: str
    provider_id: str
    linked: bool
    needs_relink: bool
    expired: bool
    expires_at: datetime | None
    scopes: list[str]
    email: str | None
    linked_at: datetime | None
    refreshed_at: datetime | None


class OAuthEmailView(msgspec.Struct, frozen=True):
    tool_id: str
    email: str | None


class OAuthLinkedView(msgspec.Struct, frozen=True):
    tool_id: str
    provider_id: str
    linked: bool
    email: str | None
    scopes: list[str]
    expires_at: datetime | None


class OAuthCallbackResult(msgspec.Struct, frozen=True):
    linked: OAuthLinkedView
    redirect_to: str | None
    """Where to send the browser, when the server has a return URL configured."""


def _status(tool_id: str, provider_id: str, link: OAuthLink | None, now: datetime) -> OAuthStatusView:
    if link is None:
        return OAuthStatusView(
            tool_id=tool_id,
            provider_id=provider_id,
            linked=False,
            needs_relink=False,
            expired=False,
            expires_at=None,
            scopes=[],
            email=None,
            linked_at=None,
            refreshed_at=None,
        )
    return OAuthStatusView(
        tool_id=tool_id,
        provider_id=provider_id,
        linked=not link.needs_relink,
        needs_relink=link.needs_relink,
        expired=link.expired(now),
        expires_at=link.expires_at,
        scopes=list(link.scopes),
        email=link.email,
        linked_at=link.linked_at,
        refreshed_at=link.refreshed_at,
    )


@dataclass(frozen=True, slots=True)
class Tools:
    """Looking up a shared tool and its provider, with the errors a caller can act on."""

    directory: SharedToolDirectory

    async def get(self, tool_id: str) -> SharedTool:
        tool = await self.directory.tool(tool_id)
        if tool is None:
            raise NotFound("no such shared tool", code="shared_tool_not_found")
        return tool

    async def provider_of(self, tool: SharedTool) -> OAuthProvider:
        if tool.provider_id is None:
            raise Unprocessable("this shared tool needs no account", code="oauth_not_supported")
        return await self.provider(tool.provider_id)

    async def provider(self, provider_id: str) -> OAuthProvider:
        provider = await self.directory.provider(provider_id)
        if provider is None:
            raise Unavailable("the tool's OAuth provider is not configured on this server", code="oauth_unconfigured")
        return provider


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


def _state_payload(state: OAuthState) -> str:
    expires = int(state.expires_at.timestamp())
    return f"oauth-state\x00{state.id}\x00{state.tenant_id}\x00{state.user_id}\x00{state.tool_id}\x00{expires}"


def _callback_url(site: SiteConfig, base_url: str) -> str:
    return (site.public_url or base_url).rstrip("/") + CALLBACK_PATH


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


@dataclass(frozen=True, slots=True)
class ListSharedTools:
    """Shared tools, with whether the caller has linked their own account to each."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[SharedToolView]:
        actor.require(self.scope)
        every = await self.tools.directory.tools()
        async with self.uow(read_only=True) as uow:
            links = {link.tool_id: link for link in await uow.oauth_links.list_for_user(actor.tenant_id, actor.user_id)}
        items = []
        for tool in every[page.offset : page.offset + page.limite]:
            link = links.get(tool.id) if tool.provider_id is not None else None
            linked = link is not None and not link.needs_relink
            needs_relink = link is not None and link.needs_relink
            items.append(
                SharedToolView(
                    id=tool.id,
                    name=tool.name,
                    description=tool.description,
                    provider_id=tool.provider_id,
                    requires_oauth=tool.provider_id is not None,
                    linked=linked,
                    needs_relink=needs_relink,
                )
            )
        return Page(items, len(every), page.limite, page.offset)


@dataclass(frozen=True, slots=True)
class BeginOAuth:
    """Start linking the caller's own account to a shared tool: a signed, single-use state (10 minutes) and the
    provider's authorization URL (PKCE S256). Open the URL in a browser; the provider returns to
    /api/auth/callback."""

    # The state is per user, signed, single-use and expiring; its PKCE verifier stays on the server, sealed.

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    tools: Tools
    uow: UnitOfWorkFactory
    box: SecretBox
    digest: SecretDigest
    secrets: SecretGenerator
    ids: IdFactory
    clock: Clock
    site: SiteConfig

    async def __call__(self, actor: Principal, tool_id: str, base_url: str) -> OAuthStartView:
        actor.require(self.scope)
        tool = await self.tools.get(tool_id)
        provider = await self.tools.provider_of(tool)
        now = self.clock.now()
        state_id = self.ids.new()
        verifier = self.secrets.token(VERIFIER_BYTES)
        redirect_uri = _callback_url(self.site, base_url)
        state = OAuthState(
            id=state_id,
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            tool_id=tool.id,
            provider_id=provider.id,
            redirect_uri=redirect_uri,
            verifier_sealed=self.box.seal(verifier.encode(), context=state_context(state_id)),
            created_at=now,
            expires_at=now + timedelta(seconds=self.site.oauth_state_ttl_seconds),
        )
        async with self.uow() as uow:
            await uow.oauth_states.purge(now - STATE_RETENTION)
            await uow.oauth_states.add(state)
            await uow.commit()
        token = f"{state_id}.{self.digest.digest(_state_payload(state))}"
        params = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "state": token,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if provider.scopes:
            params["scope"] = " ".join(provider.scopes)
        return OAuthStartView(
            tool_id=tool.id,
            provider_id=provider.id,
            authorization_url=_with_query(provider.authorize_url, params),
            state=token,
            expires_at=state.expires_at,
        )


class CallbackParams(msgspec.Struct, frozen=True, kw_only=True):
    """What the provider sent the browser back with (RFC 6749 sections 4.1.2 and 4.1.2.1)."""

    state: str | None = None
    code: str | None = None
    error: str | None = None
    error_description: str | None = None


@dataclass(frozen=True, slots=True)
class CompleteOAuth:
    """The provider's return: check the state, exchange the code (PKCE) and store the tokens, encrypted, for the
    user who started. Leads to the configured return URL, or answers what was linked."""

    tools: Tools
    uow: UnitOfWorkFactory
    box: SecretBox
    vault: Vault
    digest: SecretDigest
    oauth: OAuthClient
    clock: Clock
    site: SiteConfig

    async def __call__(self, params: CallbackParams) -> OAuthCallbackResult:
        state = await self._claim(params.state)
        if params.error is not None:
            error = params.error if _PROVIDER_ERROR.match(params.error) else "invalid_error"
            if error == "access_denied":
                raise Forbidden("the account owner denied access at the provider", code="oauth_access_denied")
            raise UpstreamFailed(f"the provider refused the authorization ({error})", code="oauth_authorization_failed")
        if not params.code:
            raise ValidationFailed("the callback carries no authorization code", code="oauth_code_missing")
        try:
            verifier = self.box.open(state.verifier_sealed, context=state_context(state.id)).decode()
        except SecretUnreadable:
            raise ValidationFailed(
                "this authorization can no longer complete; start again", code="oauth_state_invalid"
            ) from None
        provider = await self.tools.provider(state.provider_id)
        grant = await self.oauth.exchange_code(
            provider, code=params.code, verifier=verifier, redirect_uri=state.redirect_uri
        )
        try:
            email = await self.oauth.user_email(provider, access_token=grant.access_token)
        except UpstreamFailed:
            email = None  # the account is linked all the same; user-email asks again later
        now = self.clock.now()
        async with self.uow() as uow:
            old = await uow.oauth_links.get(state.tenant_id, state.user_id, state.tool_id)
            link = msgspec.structs.replace(self.vault.link(old, state, grant, provider, now), email=email)
            await uow.oauth_links.put(link)
            await uow.commit()
        view = OAuthLinkedView(
            tool_id=link.tool_id,
            provider_id=provider.id,
            linked=True,
            email=link.email,
            scopes=list(link.scopes),
            expires_at=link.expires_at,
        )
        redirect = self.site.oauth_return_url
        return OAuthCallbackResult(
            view, _with_query(redirect, {"tool_id": link.tool_id, "status": "linked"}) if redirect else None
        )

    async def _claim(self, token: str | None) -> OAuthState:
        """The state behind ``token``, used up: its signature checks, it has not expired, nobody used it."""
        invalid = ValidationFailed("invalid OAuth state", code="oauth_state_invalid")
        match = _STATE.match(token or "")
        if match is None:
            raise invalid
        state_id, mac = match.groups()
        now = self.clock.now()
        async with self.uow() as uow:
            state = await uow.oauth_states.get(state_id)
            if state is None or not self.digest.matches(_state_payload(state), mac):
                raise invalid
            if state.expires_at <= now:
                raise ValidationFailed("the OAuth state has expired; start again", code="oauth_state_expired")
            if not await uow.oauth_states.consume(state_id, now):
                raise ValidationFailed("this OAuth state was already used", code="oauth_state_used")
            await uow.commit()
        return state


@dataclass(frozen=True, slots=True)
class OAuthStatus:
    """Whether the caller's account is linked to a shared tool, until when its access token lives, and its
    scopes."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, tool_id: str) -> OAuthStatusView:
        actor.require(self.scope)
        tool = await self.tools.get(tool_id)
        provider = await self.tools.provider_of(tool)
        async with self.uow(read_only=True) as uow:
            link = await uow.oauth_links.get(actor.tenant_id, actor.user_id, tool.id)
        return _status(tool.id, provider.id, link, self.clock.now())


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
        refreshed = OAuthLink(
            tenant_id=link.tenant_id,
            user_id=link.user_id,
            tool_id=link.tool_id,
            provider_id=link.provider_id,
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
            email=link.email,
            linked_at=link.linked_at,
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


@dataclass(frozen=True, slots=True)
class OAuthUserEmail:
    """The email of the caller's linked account for a shared tool (``oauth_not_linked`` when there is none),
    asked of the provider if it was not known yet."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory
    oauth: OAuthClient
    access_token_for: AccessTokenFor

    async def __call__(self, actor: Principal, tool_id: str) -> OAuthEmailView:
        actor.require(self.scope)
        tool = await self.tools.get(tool_id)
        provider = await self.tools.provider_of(tool)
        async with self.uow(read_only=True) as uow:
            link = await uow.oauth_links.get(actor.tenant_id, actor.user_id, tool.id)
        if link is None:
            raise NotFound("no linked account for this tool", code="oauth_not_linked")
        if link.email is not None:
            return OAuthEmailView(tool_id=tool.id, email=link.email)
        token = await self.access_token_for(actor, tool.id)
        email = await self.oauth.user_email(provider, access_token=token)
        if email is not None:
            async with self.uow() as uow:
                await _remember_email(uow, actor, tool.id, email)
                await uow.commit()
        return OAuthEmailView(tool_id=tool.id, email=email)


async def _remember_email(uow: UnitOfWork, actor: Principal, tool_id: str, email: str) -> None:
    current = await uow.oauth_links.get(actor.tenant_id, actor.user_id, tool_id)
    if current is not None:
        await uow.oauth_links.put(msgspec.structs.replace(current, email=email))


@dataclass(frozen=True, slots=True)
class SharedTools:
    """/api/shared-tools and the OAuth callback, /api/auth/callback."""

    list: ListSharedTools
    begin_oauth: BeginOAuth
    complete_oauth: CompleteOAuth
    oauth_status: OAuthStatus
    access_token: AccessTokenFor
    """For the server's own tool sessions: a valid access token of a user's linked account."""
    user_email: OAuthUserEmail


def shared_tools(p: Ports) -> SharedTools:
    tools, vault = Tools(p.shared_tools), Vault(p.secret_box)
    access_token = AccessTokenFor(tools, p.uow, vault, p.oauth, p.clock)
    return SharedTools(
        list=ListSharedTools(tools, p.uow),
        begin_oauth=BeginOAuth(tools, p.uow, p.secret_box, p.digest, p.secrets, p.ids, p.clock, p.site),
        complete_oauth=CompleteOAuth(tools, p.uow, p.secret_box, vault, p.digest, p.oauth, p.clock, p.site),
        oauth_status=OAuthStatus(tools, p.uow, p.clock),
        access_token=access_token,
        user_email=OAuthUserEmail(tools, p.uow, p.oauth, access_token),
    )
