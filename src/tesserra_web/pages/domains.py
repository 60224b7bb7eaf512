"""Domains: the tenant's list (filters and page in the URL), claiming a name, and one domain with its
verification (the TXT record to publish, a check now) and its zone's records (list, add, delete)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.domains import DEFAULT_TTL, DomainFilter, RecordType, VerificationStatus
from tesserra_core.errors import Conflict, PaymentRequired, Unavailable, Unprocessable, ValidationFailed
from tesserra_core.usecases.domains import NewDomain
from tesserra_core.usecases.zones import NewDnsRecord
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_REFUSED = (Conflict, PaymentRequired, Unprocessable, ValidationFailed)
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


def _with_ttl(fields: Mapping[str, object], key: str, raw: str) -> dict[str, object]:
    """The form's fields as the REST body: an empty TTL left out (the default applies)."""
    ttl = _ttl(raw)
    return dict(fields) if ttl is None else {**fields, key: ttl}


def _refusal(exc: Exception, what: str) -> tuple[int, str]:
    if isinstance(exc, msgspec.ValidationError):
        return 400, f"this {what} cannot be added: {exc}"
    assert isinstance(exc, _REFUSED)
    return exc.status, exc.message


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

    async def _detail(
        request: AnyRequest, domain_id: str, status: int = 200, error: str | None = None, typed: Mapping[str, str] = {}
    ) -> Template:
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
            cmd = msgspec.convert(_with_ttl({"name": name}, "default_ttl", ttl), NewDomain)  # as the REST body
            domain = await console.uc.domains.create(actor, cmd)
        except (msgspec.ValidationError, *_REFUSED) as exc:
            return await _list(request, *_refusal(exc, "domain"), name=name, default_ttl=ttl)
        return back_to(href(f"/domains/{domain.id}"))

    @get("/domains/{domain_id:str}")
    async def domain_page(request: AnyRequest, domain_id: FromPath[str]) -> Template:
        return await _detail(request, domain_id)

    @post("/domains/{domain_id:str}/verify")
    async def verify_domain(request: AnyRequest, domain_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.domains.verify(actor, domain_id)
        except Unavailable as exc:
            return await _detail(request, domain_id, exc.status, exc.message)
        return back_to(href(f"/domains/{domain_id}", checked=1))

    @post("/domains/{domain_id:str}/records")
    async def add_record(request: AnyRequest, domain_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {k: str(form.get(k, "")) for k in ("name", "type", "data", "ttl")}
        try:
            fields = {"name": typed["name"], "type": typed["type"], "data": typed["data"]}
            cmd = msgspec.convert(_with_ttl(fields, "ttl", typed["ttl"]), NewDnsRecord)  # as the REST body
            await console.uc.zones.create_record(actor, domain_id, cmd)
        except (msgspec.ValidationError, *_REFUSED) as exc:
            return await _detail(request, domain_id, *_refusal(exc, "record"), typed)
        return back_to(href(f"/domains/{domain_id}"))

    @post("/domains/{domain_id:str}/records/{record_id:str}/delete")
    async def delete_record(request: AnyRequest, domain_id: FromPath[str], record_id: FromPath[str]) -> Response[Any]:
        session, actor = await console.signed_in(request)
        await console.uc.zones.delete_record(actor, domain_id, record_id)
        if request.headers.get("hx-request"):
            return render(request, "record_deleted_row.html", session=session, actor=actor)
        return back_to(href(f"/domains/{domain_id}"))

    return [domains_page, add_domain, domain_page, verify_domain, add_record, delete_record]
