"""Shared tools: the tools that act with each user's own account at a provider, whether the signed-in user
has linked theirs, and the link itself. An authorization started here is bound to this console session
(the core signs the state over the session's key) and the provider returns the browser to this console's
callback, which completes it only in the same session."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.errors import Forbidden, NotFound, UpstreamFailed, ValidationFailed
from tesserra_core.usecases.oauth_flow import CallbackParams
from tesserra_web.listing import Listing
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_BOUNDS = {"state": 256, "code": 1024, "error": 128, "error_description": 512}
"""The provider's parameters (RFC 6749 4.1.2), held to the bounds the API's callback keeps."""
_CALLBACK_FAILED = (Forbidden, UpstreamFailed, ValidationFailed)


def _callback_params(request: AnyRequest) -> CallbackParams:
    found: dict[str, str] = {}
    for name, limit in _BOUNDS.items():
        value = request.query_params.get(name)
        if value is None:
            continue
        if len(value) > limit or not _PRINTABLE.match(value):
            raise ValidationFailed(f"{name} is not a parameter a provider sends", code="invalid_callback")
        found[name] = value
    return CallbackParams(**found)


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _list(request: AnyRequest, status: int = 200, error: str | None = None) -> Template:
        listing = await Listing.of(console, request, console.uc.shared_tools.list)
        linked = request.query_params.get("linked", "")
        return listing.render(
            request,
            "shared_tools.html",
            status=status,
            error=error,
            linked=next((t for t in listing.page.items if t.id == linked and t.linked), None),
        )

    @get("/shared-tools")
    async def shared_tools_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/shared-tools/{tool_id:str}/link")
    async def link(request: AnyRequest, tool_id: FromPath[str]) -> Template:
        """The provider's authorization link, as a page to follow: the console's CSP (form-action 'self')
        rightly stops a form's answer from redirecting the browser to another origin."""
        session, actor = await console.signed_in(request)
        base = str(request.base_url).rstrip("/").removesuffix("/console")
        start = await console.uc.shared_tools.begin_oauth(actor, tool_id, base, browser=session.key)
        return render(request, "shared_tool_link.html", session=session, actor=actor, start=start)

    @get("/oauth/callback")
    async def callback(request: AnyRequest) -> Template | Redirect:
        session, _ = await console.signed_in(request)  # signed out: to the login page, then back here
        try:
            done = await console.uc.shared_tools.complete_oauth(_callback_params(request), browser=session.key)
        except _CALLBACK_FAILED as exc:
            message = exc.message
            if exc.code == "oauth_state_invalid":
                message = (
                    "This link cannot complete here: it was started in another browser or console session "
                    "(or is not valid). Start it again from this page."
                )
            return await _list(request, exc.status, message)
        except NotFound:  # the tool or its provider is gone from the directory since
            return await _list(request, 404, "That shared tool is no longer offered.")
        return back_to(href("/shared-tools", linked=done.linked.tool_id))

    return [shared_tools_page, link, callback]
