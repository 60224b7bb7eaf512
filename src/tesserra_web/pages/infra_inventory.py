"""Infra SSH inventory changes (uc.infra_ssh.add_host and remove_host, as POST and DELETE
/api/infra/ssh/hosts): a form on the hosts page adds a host (its host key pinned, its login key sealed and
never shown again, not even typed back on a refusal) and the host's page removes it. Both are audited with
``via console``; the use cases refuse anyone but a platform administrator, as they refuse any key but an
admin-tier one."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.infra_ssh import HostTier
from tesserra_core.domain.infra_ssh_audit import Via
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed
from tesserra_core.usecases.infra_ssh_views import NewHost
from tesserra_web.listing import Listing
from tesserra_web.pages.infra_operator import AnyRequest, actions_by_id, field, operator
from tesserra_web.web import Console, back_to, href

NUMBERS = ("port", "max_lease_seconds", "approvers_required")
TYPED = ("name", "address", "port", "login", "host_key", "tier", "labels", "forwards", *NUMBERS[1:])
"""The add form's fields typed back on a refusal (never the private key)."""
MAX_KEY = 16_384
"""Longest login key read (the use case's own bound)."""
_WORDS = re.compile(r"[\s,]+")
_REFUSED = (Conflict, Unprocessable, ValidationFailed)


def _words(raw: str) -> list[str]:
    return [w for w in _WORDS.split(raw.strip()) if w]


def _number(raw: str) -> int | str:
    """A whole number read as one; anything else left as text, for the conversion to refuse by name."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else raw


def new_host(form: Any) -> NewHost:
    """The form as the REST body, converted as the REST body is (400 naming the field past any bound)."""
    key = form.get("private_key", "")
    body: dict[str, Any] = {
        "name": field(form, "name").strip(),
        "address": field(form, "address").strip(),
        "login": field(form, "login").strip(),
        "host_key": field(form, "host_key").strip(),
        "private_key": key[: MAX_KEY + 1] if isinstance(key, str) else "",
        "tier": field(form, "tier") or HostTier.DEV.value,
        "labels": _words(field(form, "labels")),
        "actions": [a[:100] for a in form.getall("actions", []) if isinstance(a, str)],
        "forwards": _words(field(form, "forwards")),
        "certificate_login": field(form, "certificate_login") == "on",
    }
    for name in NUMBERS:
        if field(form, name).strip():
            body[name] = _number(field(form, name))
    try:
        return msgspec.convert(body, NewHost)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"this host cannot be added: {exc}", code="validation_failed") from None


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def hosts_list(request: AnyRequest, status: int = 200, error: str | None = None, **typed: Any) -> Template:
        listing = await Listing.of(
            console, request, lambda actor, asked: console.uc.infra_ssh.list_hosts(operator(actor), asked)
        )
        return listing.render(
            request,
            "infra_hosts.html",
            status=status,
            error=error,
            catalog=list((await actions_by_id(console.uc, operator(listing.actor))).values()),
            tiers=[t.value for t in HostTier],
            form={k: "" for k in TYPED} | {"chosen": []} | typed,
            removed=request.query_params.get("removed", "")[:63],
        )

    @get("/infra/hosts")
    async def hosts_page(request: AnyRequest) -> Template:
        return await hosts_list(request)

    @post("/infra/hosts")
    async def add_host(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {k: field(form, k) for k in TYPED}
        chosen = [a for a in form.getall("actions", []) if isinstance(a, str)]
        try:
            host = await console.uc.infra_ssh.add_host(operator(actor), new_host(form), Via.CONSOLE)
        except _REFUSED as exc:
            return await hosts_list(request, exc.status, exc.message, chosen=chosen, **typed)
        return back_to(href(f"/infra/hosts/{host.id}"))

    @post("/infra/hosts/{host_id:str}/delete")
    async def remove_host(request: AnyRequest, host_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        removed = await console.uc.infra_ssh.remove_host(operator(actor), host_id, Via.CONSOLE)
        return back_to(href("/infra/hosts", removed=removed.name))

    return [hosts_page, add_host, remove_host]
