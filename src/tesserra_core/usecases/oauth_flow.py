"""Per-user OAuth: start an authorization (PKCE, a state bound to the caller) and complete it at the
callback, sealing the tokens to exactly that tenant, user and tool.

An authorization started in the web console is bound to that browser's console session as well: its
state's signature covers the session, so it completes only at the console's callback in that same
session. Someone who starts one and sends the provider's link to another person cannot have their
provider account linked to the starter's user (nor the other way round): the other browser's session
does not match."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar
from urllib.parse import urlencode

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.shared_tools import (
    OAuthState,
    pkce_challenge,
    state_context,
)
from tesserra_core.domain.structs import by_name
from tesserra_core.errors import (
    Forbidden,
    SecretUnreadable,
    UpstreamFailed,
    ValidationFailed,
)
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.security import SecretDigest
from tesserra_core.ports.shared_tools import OAuthClient, SiteConfig
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.oauth_tokens import Tools, Vault

CALLBACK_PATH = "/api/auth/callback"
CONSOLE_CALLBACK_PATH = "/console/oauth/callback"
"""Where the provider returns a browser whose authorization was started in the console (bound to it)."""
VERIFIER_BYTES = 48  # 64 characters: inside RFC 7636's 43-128
STATE_RETENTION = timedelta(hours=1)
_STATE = re.compile(r"^([0-9A-Za-z]{1,40})\.([0-9a-f]{64})$")
_PROVIDER_ERROR = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class OAuthStartView(msgspec.Struct, frozen=True):
    tool_id: str
    provider_id: str
    authorization_url: str
    """Open it in the user's browser; the provider sends them back to /api/auth/callback."""
    state: str
    expires_at: datetime


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


def _state_payload(state: OAuthState, browser: str | None) -> str:
    """What the state's signature covers: who started it, for which tool, until when, and in the console
    the browser's session (``browser``, the session's key)."""
    expires = int(state.expires_at.timestamp())
    payload = f"oauth-state\x00{state.id}\x00{state.tenant_id}\x00{state.user_id}\x00{state.tool_id}\x00{expires}"
    return payload if browser is None else f"{payload}\x00console\x00{browser}"


def _callback_url(site: SiteConfig, base_url: str, browser: str | None) -> str:
    return (site.public_url or base_url).rstrip("/") + (CALLBACK_PATH if browser is None else CONSOLE_CALLBACK_PATH)


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


@dataclass(frozen=True, slots=True)
class BeginOAuth:
    """Start linking the caller's own account to a shared tool: a signed, single-use state (10 minutes) and the
    provider's authorization URL (PKCE S256). Open the URL in a browser; the provider returns to
    /api/auth/callback, or, when ``browser`` (a console session's key) binds it, to the console's callback,
    where only that session can complete it."""

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

    async def __call__(
        self, actor: Principal, tool_id: str, base_url: str, browser: str | None = None
    ) -> OAuthStartView:
        actor.require(self.scope)
        tool = await self.tools.get(tool_id)
        provider = await self.tools.provider_of(tool)
        now = self.clock.now()
        state_id = self.ids.new()
        verifier = self.secrets.token(VERIFIER_BYTES)
        redirect_uri = _callback_url(self.site, base_url, browser)
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
        token = f"{state_id}.{self.digest.digest(_state_payload(state, browser))}"
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
    user who started. Leads to the configured return URL, or answers what was linked. A state the console
    started completes only with that console session's key as ``browser``, and one started over the API only
    without one: either way round its signature does not match (``oauth_state_invalid``)."""

    tools: Tools
    uow: UnitOfWorkFactory
    box: SecretBox
    vault: Vault
    digest: SecretDigest
    oauth: OAuthClient
    clock: Clock
    site: SiteConfig

    async def __call__(self, params: CallbackParams, browser: str | None = None) -> OAuthCallbackResult:
        state = await self._claim(params.state, browser)
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
        view = by_name(OAuthLinkedView, link, provider_id=provider.id, linked=True, scopes=list(link.scopes))
        redirect = self.site.oauth_return_url
        return OAuthCallbackResult(
            view, _with_query(redirect, {"tool_id": link.tool_id, "status": "linked"}) if redirect else None
        )

    async def _claim(self, token: str | None, browser: str | None) -> OAuthState:
        """The state behind ``token``, used up: its signature checks (for this browser), it has not expired,
        nobody used it."""
        invalid = ValidationFailed("invalid OAuth state", code="oauth_state_invalid")
        match = _STATE.match(token or "")
        if match is None:
            raise invalid
        state_id, mac = match.groups()
        now = self.clock.now()
        async with self.uow() as uow:
            state = await uow.oauth_states.get(state_id)
            if state is None or not self.digest.matches(_state_payload(state, browser), mac):
                raise invalid
            if state.expires_at <= now:
                raise ValidationFailed("the OAuth state has expired; start again", code="oauth_state_expired")
            if not await uow.oauth_states.consume(state_id, now):
                raise ValidationFailed("this OAuth state was already used", code="oauth_state_used")
            await uow.commit()
        return state
