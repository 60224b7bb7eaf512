"""Domains: the tenant's list (filters and page in the URL), claiming a name, and one domain's page with
its verification (the TXT record to publish, a check now), its zone (records and zone file: zones.py)
and its removal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.domains import DEFAULT_TTL, DomainFilter, RecordType, VerificationStatus
from tesserra_core.errors import Conflict, PaymentRequired, Unavailable, Unprocessable, ValidationFailed
from tesserra_core.usecases.domains import NewDomain
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
REFUSED = (Conflict, PaymentRequired, Unprocessable, ValidationFailed)
"""What a form's input can be refused with: shown on the form again, with what was typed."""


def _filter(request: AnyRequest) -> DomainFilter:
    name = request.query_params.get("q", "").strip()[:253]
    status = request.query_params.get("status", "")
    try:
        return DomainFilter(status=VerificationStatus(status) if status else None, name=name or None)
    except ValueError:
        raise ValidationFailed("unknown verification status", code="invalid_status") from None


def _ttl(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed("ttl must be a number of seconds", code="invalid_ttl")
    return int(raw)


def with_ttl(fields: Mapping[str, object], key: str, raw: str) -> dict[str, object]:
    """The form's fields as the REST body: an empty TTL left out (the default applies)."""
    ttl = _ttl(raw)
    return dict(fields) if ttl is None else {**fields, key: ttl}


def refusal(exc: Exception, what: str) -> tuple[int, str]:
    if isinstance(exc, msgspec.ValidationError):
        return 400, f"this {what} cannot be added: {exc}"
    assert isinstance(exc, REFUSED)
    return exc.status, exc.message


async def render_domain(
    console: Console,
    request: AnyRequest,
    domain_id: str,
    status: int = 200,
    error: str | None = None,
    typed: Mapping[str, str] = {},
    *,
    error_for: str = "record",
    zone_text: str = "",
    edited: Mapping[str, str] = {},
) -> Template:
    """The domain's page; a refused form is shown open again, its ``error`` beside it (``error_for``:
    record, zone, delete, or the id of the record being edited), with what was typed."""
    session, actor = await console.signed_in(request)
    domain = await console.uc.domains.get(actor, domain_id)
    pager = Pager.of(request)
    records = await console.uc.zones.list_records(actor, domain_id, pager.request)
    return render(
        request,
        "domain.html",
        status=status,
        error=error,
        form={"name": "", "type": "A", "data": "", "ttl": "", **typed},
        session=session,
        actor=actor,
        domain=domain,
        records=records,
        pager=pager,
        types=[t.value for t in RecordType],
        error_for=error_for,
        zone_text=zone_text,
        edited=edited,
        imported=request.query_params.get("imported", ""),
    )


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _list(request: AnyRequest, status: int = 200, error: str | None = None, **form: str) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        chosen = _filter(request)
        page = await console.uc.domains.list(actor, pager.request, chosen)
        return render(
            request,
            "domains.html",
            status=status,
            error=error,
            form={"name": "", "default_ttl": "", **form},
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            q=chosen.name or "",
            chosen_status=chosen.status.value if chosen.status else "",
            statuses=[s.value for s in VerificationStatus],
            default_ttl=DEFAULT_TTL,
        )

    @get("/domains")
    async def domains_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/domains")
    async def add_domain(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        name, ttl = str(form.get("name", "")), str(form.get("default_ttl", ""))
        try:
            cmd = msgspec.convert(with_ttl({"name": name}, "default_ttl", ttl), NewDomain)  # as the REST body
            domain = await console.uc.domains.create(actor, cmd)
        except (msgspec.ValidationError, *REFUSED) as exc:
            return await _list(request, *refusal(exc, "domain"), name=name, default_ttl=ttl)
        return back_to(href(f"/domains/{domain.id}"))

    @get("/domains/{domain_id:str}")
    async def domain_page(request: AnyRequest, domain_id: FromPath[str]) -> Template:
        return await render_domain(console, request, domain_id)

    @post("/domains/{domain_id:str}/verify")
    async def verify_domain(request: AnyRequest, domain_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.domains.verify(actor, domain_id)
        except Unavailable as exc:
            return await render_domain(console, request, domain_id, exc.status, exc.message)
        return back_to(href(f"/domains/{domain_id}", checked=1))

    @post("/domains/{domain_id:str}/delete")
    async def delete_domain(request: AnyRequest, domain_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        confirmed = (await request.form()).get("confirm") == "yes"
        try:
            if not confirmed:
                raise ValidationFailed("tick the box to confirm the deletion", code="confirmation_required")
            await console.uc.domains.delete(actor, domain_id)
        except (Conflict, ValidationFailed) as exc:
            return await render_domain(console, request, domain_id, exc.status, exc.message, error_for="delete")
        return back_to(href("/domains"))

    return [
        domains_page,
        add_domain,
        domain_page,
        verify_domain,
        delete_domain,
    ]
