"""Plans, for platform administrators (uc.plans as /api/admin/planos): every plan with the page in the URL, a
form to create one (its limits and a first price), and one plan's page to edit it, archive or reactivate it,
add and archive prices, and sync it with the payment provider. Amounts are typed and shown in the currency's
minor unit, as the API takes them: the console computes no money. Anyone else gets the 403 page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.billing import Interval
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Conflict, Unavailable, Unprocessable, UpstreamFailed, ValidationFailed
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice, PlanChanges, PlanView
from tesserra_web.listing import Listing
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_REFUSED = (Conflict, Unprocessable, ValidationFailed)
LIMITS = tuple(PlanLimits.__struct_fields__)
"""The plan's quotas, one field each in the forms (``limit_<name>``; empty is unlimited)."""
_PLAN = ("code", "name", "description")
_PRICE = ("currency", "interval", "amount")


def _typed(form: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    return {k: str(form.get(k, "")).strip() for k in fields}


def _number(raw: str) -> int | str:
    """A whole number as typed, or the text itself (which the plan's type then refuses, with its message)."""
    return int(raw) if raw.isdigit() and len(raw) <= 20 else raw


def _limits(form: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, int | str | None]]:
    typed = {f"limit_{k}": str(form.get(f"limit_{k}", "")).strip() for k in LIMITS}
    return typed, {k: _number(typed[f"limit_{k}"]) if typed[f"limit_{k}"] else None for k in LIMITS}


def _price(typed: Mapping[str, str]) -> dict[str, Any]:
    return {"currency": typed["currency"], "interval": typed["interval"], "amount": _number(typed["amount"])}


def _limits_form(limits: PlanLimits) -> dict[str, str]:
    return {f"limit_{k}": "" if getattr(limits, k) is None else str(getattr(limits, k)) for k in LIMITS}


def _form_of(plan: PlanView) -> dict[str, str]:
    return {"name": plan.name, "description": plan.description} | _limits_form(plan.limits)


def _context() -> dict[str, Any]:
    return {"limit_names": LIMITS, "intervals": [i.value for i in Interval]}


async def _list(
    console: Console, request: AnyRequest, status: int = 200, error: str | None = None, typed: Mapping[str, str] = {}
) -> Template:
    listing = await Listing.of(console, request, console.uc.plans.admin_list)
    blank = {k: "" for k in _PLAN + _PRICE} | {"interval": Interval.MONTH.value} | _limits_form(PlanLimits())
    return listing.render(
        request,
        "admin_plans.html",
        status=status,
        error=error,
        form=blank | dict(typed),
        **_context(),
    )


async def _plan(
    console: Console,
    request: AnyRequest,
    plan_id: str,
    status: int = 200,
    error: str | None = None,
    typed: Mapping[str, str] = {},
    price: Mapping[str, str] = {},
) -> Template:
    session, actor = await console.signed_in(request)
    plan = await console.uc.plans.admin_get(actor, plan_id)
    return render(
        request,
        "admin_plan.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        plan=plan,
        form=dict(typed) or _form_of(plan),
        price={"currency": "", "interval": Interval.MONTH.value, "amount": ""} | dict(price),
        **_context(),
    )


def routes(console: Console) -> list[HTTPRouteHandler]:
    return _plan_routes(console) + _price_and_sync_routes(console)


def _plan_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/admin/plans")
    async def plans_page(request: AnyRequest) -> Template:
        return await _list(console, request)

    @post("/admin/plans")
    async def create_plan(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = _typed(form, _PLAN + _PRICE)
        typed_limits, limits = _limits(form)
        body: dict[str, Any] = {k: typed[k] for k in _PLAN} | {"limits": limits}
        if typed["currency"] or typed["amount"]:  # a first price, if one is typed
            body["prices"] = [_price(typed)]
        try:
            created = await console.uc.plans.create(actor, msgspec.convert(body, NewPlan))
        except msgspec.ValidationError as exc:
            return await _list(console, request, 400, f"this plan cannot be made: {exc}", typed | typed_limits)
        except _REFUSED as exc:
            return await _list(console, request, exc.status, exc.message, typed | typed_limits)
        return back_to(href(f"/admin/plans/{created.id}"))

    @get("/admin/plans/{plan_id:str}")
    async def plan_page(request: AnyRequest, plan_id: FromPath[str]) -> Template:
        return await _plan(console, request, plan_id)

    @post("/admin/plans/{plan_id:str}")
    async def update_plan(request: AnyRequest, plan_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = _typed(form, ("name", "description"))
        typed_limits, limits = _limits(form)
        try:
            changes = msgspec.convert(typed | {"limits": limits}, PlanChanges)
            await console.uc.plans.update(actor, plan_id, changes)
        except msgspec.ValidationError as exc:
            return await _plan(
                console, request, plan_id, 400, f"this plan cannot be saved: {exc}", typed | typed_limits
            )
        except _REFUSED as exc:
            return await _plan(console, request, plan_id, exc.status, exc.message, typed | typed_limits)
        return back_to(href(f"/admin/plans/{plan_id}"))

    @post("/admin/plans/{plan_id:str}/archive")
    async def archive_plan(request: AnyRequest, plan_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.plans.update(actor, plan_id, PlanChanges(active=False))
        return back_to(href(f"/admin/plans/{plan_id}"))

    @post("/admin/plans/{plan_id:str}/reactivate")
    async def reactivate_plan(request: AnyRequest, plan_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.plans.update(actor, plan_id, PlanChanges(active=True))
        return back_to(href(f"/admin/plans/{plan_id}"))

    return [plans_page, create_plan, plan_page, update_plan, archive_plan, reactivate_plan]


def _price_and_sync_routes(console: Console) -> list[HTTPRouteHandler]:
    @post("/admin/plans/{plan_id:str}/prices")
    async def add_price(request: AnyRequest, plan_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        typed = _typed(await request.form(), _PRICE)
        try:
            await console.uc.plans.add_price(actor, plan_id, msgspec.convert(_price(typed), NewPrice))
        except msgspec.ValidationError as exc:
            return await _plan(console, request, plan_id, 400, f"this price cannot be added: {exc}", price=typed)
        except _REFUSED as exc:
            return await _plan(console, request, plan_id, exc.status, exc.message, price=typed)
        return back_to(href(f"/admin/plans/{plan_id}"))

    @post("/admin/plans/{plan_id:str}/prices/{price_id:str}/archive")
    async def archive_price(request: AnyRequest, plan_id: FromPath[str], price_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.plans.archive_price(actor, plan_id, price_id)
        return back_to(href(f"/admin/plans/{plan_id}"))

    @post("/admin/plans/{plan_id:str}/sync")
    async def sync_plan(request: AnyRequest, plan_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.plans.sync(actor, plan_id)
        except (Unprocessable, Unavailable, UpstreamFailed) as exc:
            return await _plan(console, request, plan_id, exc.status, exc.message)
        return back_to(href(f"/admin/plans/{plan_id}", synced=1))

    return [add_price, archive_price, sync_plan]
