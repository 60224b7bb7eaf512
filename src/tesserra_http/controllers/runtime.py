"""/api/runtime: a sandbox's runtime configuration and its proxy tokens (the proxy itself is
``tesserra_http.proxy``, a raw ASGI mount)."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath, QueryParameter

from tesserra_core.facade import UseCases
from tesserra_core.usecases.runtime_proxy import GetRuntimeConfig, MintProxyToken, RevokeProxyToken, RevokeProxyTokens
from tesserra_core.usecases.runtime_views import (
    MAX_TOKEN_TTL,
    ProxyRevocationView,
    ProxyTokenRevocationView,
    ProxyTokenView,
    RuntimeConfigView,
)
from tesserra_http.controllers.shared_tools import base_url
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller

Ports = Annotated[
    list[int] | None,
    QueryParameter(
        required=False,
        max_items=8,
        description="The ports the token covers (repeat the parameter); all declared ports by default.",
    ),
]
TokenTtl = Annotated[
    int | None,
    QueryParameter(required=False, ge=1, le=MAX_TOKEN_TTL, description="Seconds (default 900, at most 86400)."),
]
NO_STORE = [ResponseHeader(name="Cache-Control", value="no-store", documentation_only=False)]


def routes(uc: UseCases) -> Router:
    @get("/config/{sandbox_id:str}", **declare(uses=GetRuntimeConfig, errors=(403, 404)))
    async def runtime_config(sandbox_id: FromPath[str], request: Caller) -> RuntimeConfigView:
        return await uc.runtime.config(request.user, sandbox_id, base_url(request))

    @get(
        "/proxy-auth/{sandbox_id:str}",
        response_headers=NO_STORE,
        **declare(uses=MintProxyToken, errors=(400, 403, 404, 409, 422)),
    )
    async def proxy_auth(
        sandbox_id: FromPath[str], request: Caller, ports: Ports = None, ttl_seconds: TokenTtl = None
    ) -> ProxyTokenView:
        return await uc.runtime.mint_token(request.user, sandbox_id, ports, ttl_seconds, base_url(request))

    @delete("/proxy-auth/{sandbox_id:str}", status_code=200, **declare(uses=RevokeProxyTokens, errors=(403, 404, 409)))
    async def revoke_proxy_tokens(sandbox_id: FromPath[str], request: Caller) -> ProxyRevocationView:
        return await uc.runtime.revoke_tokens(request.user, sandbox_id)

    @delete(
        "/proxy-auth/{sandbox_id:str}/{token_id:str}",
        status_code=200,
        **declare(uses=RevokeProxyToken, errors=(403, 404, 409, 422)),
    )
    async def revoke_proxy_token(
        sandbox_id: FromPath[str], token_id: FromPath[str], request: Caller
    ) -> ProxyTokenRevocationView:
        return await uc.runtime.revoke_token(request.user, sandbox_id, token_id)

    handlers = [runtime_config, proxy_auth, revoke_proxy_tokens, revoke_proxy_token]
    return Router("/api/runtime", tags=["Runtime"], route_handlers=handlers)
