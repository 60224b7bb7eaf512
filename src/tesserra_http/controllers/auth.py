"""/api/auth: login, refresh, logout, me, and API keys."""

from __future__ import annotations

from litestar import Router, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import GenerateApiKey, ListApiKeys, NewApiKey, RevokeApiKey
from tesserra_core.usecases.sessions import (
    ChangePassword,
    Credentials,
    Login,
    Logout,
    Me,
    PasswordChange,
    Refresh,
    RefreshRequest,
    TokenPair,
)
from tesserra_core.usecases.views import ApiKeyView, MeView, NewApiKeyView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

NO_STORE = CacheControlHeader(no_store=True)
"""Answers carrying secrets (tokens, a new key) are never cached."""


def routes(uc: UseCases) -> Router:
    @post(
        "/login",
        status_code=200,
        cache_control=NO_STORE,
        **declare(uses=Login, public=True, rate_limit="login", errors=(400, 401, 403)),
    )
    async def login(data: JSONBody[Credentials]) -> TokenPair:
        return await uc.sessions.login(data)

    @post(
        "/refresh",
        status_code=200,
        cache_control=NO_STORE,
        **declare(uses=Refresh, public=True, errors=(400, 401, 403)),
    )
    async def refresh(data: JSONBody[RefreshRequest]) -> TokenPair:
        return await uc.sessions.refresh(data)

    @post("/logout", status_code=204, **declare(uses=Logout, errors=(422,)))
    async def logout(request: Caller) -> None:
        await uc.sessions.logout(request.user)

    @post("/password", status_code=204, **declare(uses=ChangePassword, rate_limit="me", errors=(400, 422)))
    async def change_password(data: JSONBody[PasswordChange], request: Caller) -> None:
        await uc.sessions.change_password(request.user, data)

    @get("/me", **declare(uses=Me, rate_limit="me", errors=(403,)))
    async def me(request: Caller) -> MeView:
        return await uc.sessions.me(request.user)

    @post(
        "/keys/generate",
        status_code=201,
        cache_control=NO_STORE,
        **declare(uses=GenerateApiKey, idempotent=True, errors=(400, 403)),
    )
    async def generate_key(data: JSONBody[NewApiKey], request: Caller) -> NewApiKeyView:
        return await uc.api_keys.generate(request.user, data)

    @get("/keys", **declare(uses=ListApiKeys, errors=(400, 403)))
    async def list_keys(request: Caller, page: Paging) -> Page[ApiKeyView]:
        return await uc.api_keys.list(request.user, page)

    @delete("/keys/{key_id:str}", status_code=204, **declare(uses=RevokeApiKey, errors=(403, 404)))
    async def revoke_key(key_id: FromPath[str], request: Caller) -> None:
        await uc.api_keys.revoke(request.user, key_id)

    return Router(
        "/api/auth",
        tags=["Auth"],
        route_handlers=[login, refresh, logout, change_password, me, generate_key, list_keys, revoke_key],
    )
