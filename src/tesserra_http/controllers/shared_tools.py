"""/api/shared-tools (per-user OAuth for shared tools) and its public return path /api/auth/callback."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.oauth_flow import BeginOAuth, CallbackParams, CompleteOAuth, OAuthLinkedView, OAuthStartView
from tesserra_core.usecases.shared_tools import (
    ListSharedTools,
    OAuthEmailView,
    OAuthStatus,
    OAuthStatusView,
    OAuthUserEmail,
    SharedToolView,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

NO_STORE = CacheControlHeader(no_store=True)
# RFC 6749 4.1.2: the provider's parameters are printable ASCII (VSCHAR / NQSCHAR). Their bounds keep the
# whole callback URL, percent-encoded, under the 8 KiB every request is held to (414 uri_too_long).
_VSCHAR = r"^[\x20-\x7e]*$"
StateQuery = Annotated[str | None, QueryParameter(name="state", required=False, max_length=256, pattern=_VSCHAR)]
CodeQuery = Annotated[str | None, QueryParameter(required=False, max_length=1024, pattern=_VSCHAR)]
ErrorQuery = Annotated[str | None, QueryParameter(required=False, max_length=128, pattern=_VSCHAR)]
DescriptionQuery = Annotated[str | None, QueryParameter(required=False, max_length=512, pattern=_VSCHAR)]
"""``state`` is a name Litestar reserves for the application state."""


def base_url(request: Request[Any, Any, Any]) -> str:
    """The URL the request came in on (scheme, host, root path); the core prefers a configured public URL."""
    return str(request.base_url).rstrip("/")


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListSharedTools, errors=(400, 403)))
    async def list_shared_tools(request: Caller, page: Paging) -> Page[SharedToolView]:
        return await uc.shared_tools.list(request.user, page)

    @post(
        "/{tool_id:str}/oauth/state",
        status_code=201,
        cache_control=NO_STORE,
        **declare(uses=BeginOAuth, errors=(403, 404, 422, 503)),
    )
    async def begin(tool_id: FromPath[str], request: Caller) -> OAuthStartView:
        return await uc.shared_tools.begin_oauth(request.user, tool_id, base_url(request))

    @get("/{tool_id:str}/oauth/status", **declare(uses=OAuthStatus, errors=(403, 404, 422, 503)))
    async def status(tool_id: FromPath[str], request: Caller) -> OAuthStatusView:
        return await uc.shared_tools.oauth_status(request.user, tool_id)

    @get("/{tool_id:str}/oauth/user-email", **declare(uses=OAuthUserEmail, errors=(403, 404, 409, 422, 502, 503)))
    async def user_email(tool_id: FromPath[str], request: Caller) -> OAuthEmailView:
        return await uc.shared_tools.user_email(request.user, tool_id)

    return Router(
        "/api/shared-tools", tags=["Shared tools"], route_handlers=[list_shared_tools, begin, status, user_email]
    )


def callback_routes(uc: UseCases) -> Router:
    @get(
        "/callback",
        cache_control=NO_STORE,
        **declare(
            uses=CompleteOAuth,
            public=True,
            rate_limit="oauth_callback",
            errors=(400, 403, 502, 503),
            description="Redirects (303) to the configured return URL, or answers the linked account as JSON.",
        ),
    )
    async def callback(
        oauth_state: StateQuery = None,
        code: CodeQuery = None,
        error: ErrorQuery = None,
        error_description: DescriptionQuery = None,
    ) -> Response[OAuthLinkedView]:
        params = CallbackParams(state=oauth_state, code=code, error=error, error_description=error_description)
        result = await uc.shared_tools.complete_oauth(params)
        if result.redirect_to is not None:
            return Redirect(result.redirect_to, status_code=303)
        return Response(result.linked)

    return Router("/api/auth", tags=["Shared tools"], route_handlers=[callback])
