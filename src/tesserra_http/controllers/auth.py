"""/api/auth: login, refresh, logout, me, and API keys."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials, RefreshRequest, TokenPair
from tesserra_core.usecases.views import ApiKeyView, MeView, NewApiKeyView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Actor, Paging, Uc

NO_STORE = CacheControlHeader(no_store=True)
"""Answers carrying secrets (tokens, a new key) are never cached."""


class AuthController(Controller):
    path = "/api/auth"
    tags = ["Auth"]

    @post(
        "/login",
        status_code=200,
        cache_control=NO_STORE,
        **declare(public=True, rate_limit="login", errors=(400, 401, 403)),
    )
    async def login(self, data: JSONBody[Credentials], uc: Uc) -> TokenPair:
        """Exchange email and password for a 15-minute access token and a rotating refresh token."""
        return await uc.login(data)

    @post("/refresh", status_code=200, cache_control=NO_STORE, **declare(public=True, errors=(400, 401, 403)))
    async def refresh(self, data: JSONBody[RefreshRequest], uc: Uc) -> TokenPair:
        """Rotate a refresh token. Presenting an already-rotated one revokes the whole session."""
        return await uc.refresh(data)

    @post("/logout", status_code=204, **declare(errors=(422,)))
    async def logout(self, actor: Actor, uc: Uc) -> None:
        """End this login session: its refresh tokens and every access token issued in it."""
        await uc.logout(actor)

    @get("/me", **declare(rate_limit="me", errors=(403,)))
    async def me(self, actor: Actor, uc: Uc) -> MeView:
        """Who is calling: user, tenant, role, scopes, tier and how they authenticated."""
        return await uc.me(actor)

    @post("/keys/generate", status_code=201, cache_control=NO_STORE, **declare(idempotent=True, errors=(400, 403)))
    async def generate_key(self, data: JSONBody[NewApiKey], actor: Actor, uc: Uc) -> NewApiKeyView:
        """Mint an API key with at most the caller's scopes and tier. The secret is shown only here."""
        return await uc.generate_api_key(actor, data)

    @get("/keys", **declare(errors=(400, 403)))
    async def list_keys(self, actor: Actor, uc: Uc, page: Paging) -> Page[ApiKeyView]:
        """The tenant's keys (owners and admins) or the caller's own (others), newest first."""
        return await uc.list_api_keys(actor, page)

    @delete("/keys/{key_id:str}", status_code=204, **declare(errors=(403, 404)))
    async def revoke_key(self, key_id: FromPath[str], actor: Actor, uc: Uc) -> None:
        """Revoke a key. It stops working on every worker within a second."""
        await uc.revoke_api_key(actor, key_id)
