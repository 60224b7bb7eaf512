"""Marketplace and installations: search the marketplace (filters and page in the URL), a tool's detail with
its install form (secret settings write-only: never filled in, never echoed back), the installations with their
status (live over server-sent events), and a form to call a tool of an installation, its result escaped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal, Role
from tesserra_core.domain.tools import InstallScope
from tesserra_core.errors import (
    Conflict,
    NotFound,
    PaymentRequired,
    RemoteFailed,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
    ValidationFailed,
)
from tesserra_core.usecases.installations import InstallRequest, ToolCall
from tesserra_core.usecases.marketplace import MAX_QUERY, CatalogQuery
from tesserra_core.usecases.tool_views import MarketplaceToolView, ToolCallView
from tesserra_web.listing import Listing
from tesserra_web.live import live
from tesserra_web.web import Console, Pager, back_to, fragment, href, render

AnyRequest = Request[Any, Any, Any]
_REFUSED = (Conflict, PaymentRequired, Unprocessable, ValidationFailed)
_CALL_FAILED = (*_REFUSED, NotFound, Unavailable, UpstreamFailed, RemoteFailed)
"""What a call can answer besides a result: shown on the page, the installation's own 404 excepted."""
_CONFIG = "config."
MAX_ARGUMENTS = 16_000


def _query(request: AnyRequest) -> CatalogQuery:
    fields = {k: request.query_params.get(k, "").strip() for k in ("q", "category", "tag")}
    return CatalogQuery(**{k: v or None for k, v in fields.items()})


def _scopes(actor: Principal, tool: MarketplaceToolView) -> list[str]:
    """Tenant-wide installs for owners and admins, never for a tool acting with each user's own account."""
    manages = actor.role in (Role.OWNER, Role.ADMIN) or actor.is_platform_admin
    return [InstallScope.USER.value] + ([InstallScope.TENANT.value] if manages and not tool.oauth_provider else [])


def _config(form: Mapping[str, Any], tool: MarketplaceToolView) -> tuple[dict[str, str], dict[str, str]]:
    """The install form's settings (empty ones left out: defaults apply), and the plain ones to show again."""
    known = {f.name: f for f in tool.config}
    given: dict[str, str] = {}
    for key in form:
        if key.startswith(_CONFIG):
            value = str(form.get(key, ""))
            if value:
                given[key.removeprefix(_CONFIG)] = value
    shown = {k: v for k, v in given.items() if k in known and not known[k].secret}
    return given, shown


def _arguments(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    if len(raw) > MAX_ARGUMENTS:
        raise ValidationFailed(f"arguments: at most {MAX_ARGUMENTS} characters", code="invalid_arguments")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValidationFailed("arguments must be a JSON object", code="invalid_arguments") from None
    if not isinstance(value, dict):
        raise ValidationFailed("arguments must be a JSON object", code="invalid_arguments")
    return value


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_marketplace(console), *_installations(console), *_removal(console)]


def _removal(console: Console) -> list[HTTPRouteHandler]:
    @post("/installations/{installation_id:str}/remove")
    async def remove_installation(request: AnyRequest, installation_id: FromPath[str]) -> Redirect:
        """Behind a box the form requires (a request without it is refused, nothing removed)."""
        _, actor = await console.signed_in(request)
        if (await request.form()).get("confirm") != "yes":
            raise ValidationFailed("tick the box to confirm the removal", code="confirmation_required")
        await console.uc.installations.remove(actor, installation_id)
        return back_to(href("/installations"))

    return [remove_installation]


def _marketplace(console: Console) -> list[HTTPRouteHandler]:
    async def _tool(
        request: AnyRequest, tool_id: str, status: int = 200, error: str | None = None, shown: Mapping[str, str] = {}
    ) -> Template:
        session, actor = await console.signed_in(request)
        tool = await console.uc.marketplace.get_tool(actor, tool_id)
        return render(
            request,
            "marketplace_tool.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            tool=tool,
            scopes=_scopes(actor, tool),
            shown=shown,
        )

    @get("/marketplace")
    async def marketplace_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        query = _query(request)
        page = await console.uc.marketplace.search(actor, query, pager.request)
        filters = {"q": query.q or "", "category": query.category or "", "tag": query.tag or ""}
        return render(
            request,
            "marketplace.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            filters=filters,
            max_query=MAX_QUERY,
        )

    @get("/marketplace/{tool_id:str}")
    async def tool_page(request: AnyRequest, tool_id: FromPath[str]) -> Template:
        return await _tool(request, tool_id)

    @post("/marketplace/{tool_id:str}/install")
    async def install_tool(request: AnyRequest, tool_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        tool = await console.uc.marketplace.get_tool(actor, tool_id)
        form = await request.form()
        given, shown = _config(form, tool)
        try:
            body = {"config": given, "scope": str(form.get("scope", "")) or InstallScope.USER.value}
            installed = await console.uc.installations.install(actor, tool_id, msgspec.convert(body, InstallRequest))
        except msgspec.ValidationError as exc:
            return await _tool(request, tool_id, 400, f"this tool cannot be installed: {exc}", shown)
        except _REFUSED as exc:
            return await _tool(request, tool_id, exc.status, exc.message, shown)
        return back_to(href(f"/installations/{installed.id}"))

    return [marketplace_page, tool_page, install_tool]


def _installations(console: Console) -> list[HTTPRouteHandler]:
    async def _installation(
        request: AnyRequest,
        installation_id: str,
        status: int = 200,
        error: str | None = None,
        result: ToolCallView | None = None,
        typed: Mapping[str, str] = {},
    ) -> Template:
        session, actor = await console.signed_in(request)
        installation = await console.uc.installations.get(actor, installation_id)
        tools = await console.uc.installations.list_tools(actor, installation_id)
        return render(
            request,
            "installation.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            installation=installation,
            tools=tools.tools,
            result=result,
            pretty=(lambda value: json.dumps(value, indent=2, ensure_ascii=False)),
            form={"name": "", "arguments": "", **typed},
        )

    @get("/installations")
    async def installations_page(request: AnyRequest) -> Template:
        listing = await Listing.of(console, request, console.uc.installations.list)
        return listing.render(request, "installations.html")

    @get("/installations/{installation_id:str}")
    async def installation_page(request: AnyRequest, installation_id: FromPath[str]) -> Template:
        return await _installation(request, installation_id)

    @get("/live/installations")
    async def installations_live(request: AnyRequest) -> Response[Any]:
        """The status of the installations the list's page shows, as they change."""
        pager = Pager.of(request)

        async def statuses(actor: Principal) -> dict[str, str]:
            page = await console.uc.installations.list(actor, pager.request)
            return {
                f"installation-{i.id}-status": fragment(request, "installation_status.html", actor=actor, i=i)
                for i in page.items
            }

        return await live(console, request, statuses)

    @get("/live/installations/{installation_id:str}")
    async def installation_live(request: AnyRequest, installation_id: FromPath[str]) -> Response[Any]:
        """One installation's status, as it changes (its page reloads once it leaves ``installing``)."""

        async def status(actor: Principal) -> dict[str, str]:
            i = await console.uc.installations.get(actor, installation_id)
            html = fragment(request, "installation_status.html", actor=actor, installation=i, reload=True)
            return {f"installation-{i.id}-status": html}

        return await live(console, request, status)

    @post("/installations/{installation_id:str}/call")
    async def call_tool(request: AnyRequest, installation_id: FromPath[str]) -> Template:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {"name": str(form.get("name", "")), "arguments": str(form.get("arguments", ""))}
        try:
            body = {"name": typed["name"], "arguments": _arguments(typed["arguments"])}
            result = await console.uc.installations.call_tool(actor, installation_id, msgspec.convert(body, ToolCall))
        except msgspec.ValidationError as exc:
            return await _installation(request, installation_id, 400, f"this call cannot be made: {exc}", None, typed)
        except _CALL_FAILED as exc:
            if isinstance(exc, NotFound) and exc.code == "installation_not_found":
                raise
            return await _installation(request, installation_id, exc.status, exc.message, None, typed)
        return await _installation(request, installation_id, result=result, typed=typed)

    return [installations_page, installation_page, installations_live, installation_live, call_tool]
