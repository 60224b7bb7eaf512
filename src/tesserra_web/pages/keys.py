"""API keys: the list, a form that offers only the scopes and tiers the creator holds, the secret shown once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.errors import ValidationFailed
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.integrations import KEY_PLACEHOLDER
from tesserra_core.usecases.views import NewApiKeyView
from tesserra_web.listing import Listing
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]


def offered_scopes(actor: Principal) -> list[str]:
    """The scope matrix: exactly the creator's scopes, in the order the core lists them."""
    return [s.value for s in Scope if s in actor.scopes]


def offered_tiers(actor: Principal) -> list[str]:
    return [t.value for t in Tier if actor.tier.covers(t)]


def _expiry(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("expiry must be a date (YYYY-MM-DD)", code="invalid_expiry") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _list(request: AnyRequest, status: int = 200, error: str | None = None, **form: Any) -> Template:
        listing = await Listing.of(console, request, console.uc.api_keys.list)
        return listing.render(
            request,
            "keys.html",
            status=status,
            scopes=offered_scopes(listing.actor),
            tiers=offered_tiers(listing.actor),
            error=error,
            form={"name": "", "scopes": [], "tier": "", "expires": "", **form},
        )

    @get("/keys")
    async def keys_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/keys")
    async def create_key(request: AnyRequest) -> Template | Redirect:
        session, actor = await console.signed_in(request)
        form = await request.form()
        name = str(form.get("name", ""))
        scopes = [str(s) for s in form.getall("scopes")] if "scopes" in form else []
        tier = str(form.get("tier", "")) or None
        expires = str(form.get("expires", ""))
        try:
            fields = {"name": name, "scopes": scopes or None, "tier": tier, "expires_at": _expiry(expires)}
            cmd = msgspec.convert(fields, NewApiKey)  # checked as the REST body is
            created = await console.uc.api_keys.generate(actor, cmd)
        except (ValidationFailed, msgspec.ValidationError) as exc:
            message = exc.message if isinstance(exc, ValidationFailed) else f"this key cannot be made: {exc}"
            return await _list(request, 400, message, name=name, scopes=scopes, tier=tier or "", expires=expires)
        await console.sessions.stash(session, msgspec.json.encode(created))
        return back_to(href(f"/keys/{created.api_key.id}/created"))

    @get("/keys/{key_id:str}/created")
    async def created_page(request: AnyRequest, key_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        kept = await console.sessions.take(session)
        created = msgspec.json.decode(kept, type=NewApiKeyView) if kept is not None else None
        if created is not None and created.api_key.id == key_id:
            origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
            client = await console.uc.integrations.client_configuration(actor, None, origin)
            snippets = {
                "REST API": f'curl -H "Authorization: Bearer {created.key}" {origin}/api/auth/me',
                **{
                    name: json.dumps(body, indent=2).replace(KEY_PLACEHOLDER, created.key)
                    for name, body in client.snippets.items()
                },
            }
            return render(
                request,
                "key_created.html",
                session=session,
                actor=actor,
                created=created,
                mcp_url=client.mcp_url,
                snippets=snippets,
            )
        return render(request, "key_created.html", session=session, actor=actor, created=None)

    @post("/keys/{key_id:str}/revoke")
    async def revoke_key(request: AnyRequest, key_id: FromPath[str]) -> Response[Any]:
        session, actor = await console.signed_in(request)
        await console.uc.api_keys.revoke(actor, key_id)
        if request.headers.get("hx-request"):
            return render(request, "key_revoked_row.html", session=session, actor=actor)
        return back_to(href("/keys"))

    return [keys_page, create_key, created_page, revoke_key]
