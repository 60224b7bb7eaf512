"""Billing of the signed-in tenant (uc.plans and uc.subscriptions, as /api/planos and /api/assinatura): the plans
and their prices, the subscription and its state, Stripe Checkout and the billing portal, cancellation at the
end of the period, the invoices.

Leaving for Stripe: the checkout and portal forms post here, the use case answers Stripe's page, and the
browser is sent on from a page of ours (``/billing/continue``), not by a redirect of the post: the console's
CSP allows forms to reach only this origin, and browsers apply that to a post's redirects too."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.billing import format_amount
from tesserra_core.domain.identity import ConsoleSession
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, TesserraError
from tesserra_core.usecases.subscriptions import CheckoutStart
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_PLANS = PageRequest(limit=100)


class Leaving(msgspec.Struct, frozen=True):
    """Where the browser goes next (kept in the session for one page): Stripe's checkout or portal."""

    url: str
    to: str


def _refused_for_role(exc: Forbidden) -> bool:
    return exc.code == "insufficient_scope"


def _unless_shown_on_the_page(exc: TesserraError) -> None:
    """Raise again what the billing page cannot show beside its forms: a role refused (the error page says so)."""
    if isinstance(exc, Forbidden) and _refused_for_role(exc):
        raise exc


async def _billing_page(console: Console, request: AnyRequest, status: int = 200, error: str | None = None) -> Template:
    session, actor = await console.signed_in(request)
    pager = Pager.of(request)
    plans = await console.uc.plans.list(_PLANS)
    try:  # the catalogue is public; the tenant's subscription and invoices need billing:read
        subscription = await console.uc.subscriptions.get(actor)
        invoices = await console.uc.subscriptions.invoices(actor, pager.request)
    except Forbidden as exc:
        if not _refused_for_role(exc):
            raise
        subscription, invoices = None, None
    return render(
        request,
        "billing.html",
        status=status,
        session=session,
        actor=actor,
        plans=plans.items,
        subscription=subscription,
        page=invoices,
        pager=pager,
        error=error,
        cancelled=request.query_params.get("cancelled") == "1",
        money=format_amount,
    )


async def _leave(console: Console, session: ConsoleSession, url: str, to: str) -> Redirect:
    await console.sessions.stash(session, msgspec.json.encode(Leaving(url=url, to=to)))
    return back_to(href("/billing/continue"))


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_read_routes(console), *_write_routes(console)]


def _read_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/billing")
    async def billing_page(request: AnyRequest) -> Template:
        return await _billing_page(console, request)

    @get("/billing/continue")
    async def continue_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        kept = await console.sessions.take(session)
        leaving = msgspec.json.decode(kept, type=Leaving) if kept is not None else None
        if leaving is not None and urlsplit(leaving.url).scheme not in ("https", "http"):
            leaving = None  # a web page, never a script
        # Stripe's page gets no referrer: the console's Referrer-Policy (same-origin) sends none off this origin.
        return render(request, "billing_continue.html", session=session, actor=actor, leaving=leaving)

    @get("/billing/invoices/{invoice_id:str}")
    async def invoice_page(request: AnyRequest, invoice_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        invoice = await console.uc.subscriptions.invoice(actor, invoice_id[:64])
        return render(request, "invoice.html", session=session, actor=actor, invoice=invoice, money=format_amount)

    return [billing_page, continue_page, invoice_page]


def _write_routes(console: Console) -> list[HTTPRouteHandler]:
    @post("/billing/checkout")
    async def checkout(request: AnyRequest) -> Template | Redirect:
        session, actor = await console.signed_in(request)
        form = await request.form()
        fields = {k: str(form.get(k, ""))[:64] for k in ("plan", "currency", "interval")}
        try:
            cmd = msgspec.convert(fields, CheckoutStart)  # checked as the REST body is
        except msgspec.ValidationError:
            return await _billing_page(console, request, 400, "Choose one of the listed prices.")
        try:
            started = await console.uc.subscriptions.start_checkout(actor, cmd)
        except TesserraError as exc:
            _unless_shown_on_the_page(exc)
            return await _billing_page(console, request, exc.status, exc.message)
        return await _leave(console, session, started.url, "Stripe Checkout")

    @post("/billing/portal")
    async def portal(request: AnyRequest) -> Template | Redirect:
        session, actor = await console.signed_in(request)
        try:
            opened = await console.uc.subscriptions.portal(actor)
        except TesserraError as exc:
            _unless_shown_on_the_page(exc)
            return await _billing_page(console, request, exc.status, exc.message)
        return await _leave(console, session, opened.url, "the Stripe billing portal")

    @post("/billing/cancel")
    async def cancel(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.subscriptions.cancel(actor)
        except TesserraError as exc:
            _unless_shown_on_the_page(exc)
            return await _billing_page(console, request, exc.status, exc.message)
        return back_to(href("/billing", cancelled=1))

    return [checkout, portal, cancel]
