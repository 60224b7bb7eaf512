"""Every tenant, for platform administrators (uc.tenants as /api/admin/tenants): the list with its page in
the URL, a form to create a tenant with its owner, and one tenant's page to rename it, re-slug it, change its
plan, suspend and reactivate it. Anyone else gets the use cases' 403 page, as REST answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed
from tesserra_core.usecases.tenants import NewTenant, TenantChanges
from tesserra_core.usecases.views import TenantView
from tesserra_web.listing import Listing
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_REFUSED = (Conflict, Unprocessable, ValidationFailed)
_NEW = ("name", "slug", "plan", "owner_email", "owner_name")
_EDIT = ("name", "slug", "plan")
_PLANS = PageRequest(limit=500)


def _typed(form: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    return {k: str(form.get(k, "")).strip() for k in fields}


def _filled(typed: Mapping[str, str]) -> dict[str, str]:
    """The fields typed in: an empty optional field is left out, as a REST body would leave it."""
    return {k: v for k, v in typed.items() if v}


def _form_of(tenant: TenantView) -> dict[str, str]:
    return {"name": tenant.name, "slug": tenant.slug, "plan": tenant.plan}


async def _plans(console: Console, actor: Principal) -> list[str]:
    return [p.code for p in (await console.uc.plans.admin_list(actor, _PLANS)).items]


async def _list(
    console: Console, request: AnyRequest, status: int = 200, error: str | None = None, typed: Mapping[str, str] = {}
) -> Template:
    listing = await Listing.of(console, request, console.uc.tenants.list)
    return listing.render(
        request,
        "admin_tenants.html",
        status=status,
        error=error,
        plans=await _plans(console, listing.actor),
        form={k: "" for k in _NEW} | {"plan": "free"} | dict(typed),
    )


async def _tenant(
    console: Console,
    request: AnyRequest,
    tenant_id: str,
    status: int = 200,
    error: str | None = None,
    typed: Mapping[str, str] = {},
) -> Template:
    session, actor = await console.signed_in(request)
    tenant = await console.uc.tenants.get(actor, tenant_id)
    return render(
        request,
        "admin_tenant.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        tenant=tenant,
        plans=await _plans(console, actor),
        form=dict(typed) or _form_of(tenant),
    )


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/admin/tenants")
    async def tenants_page(request: AnyRequest) -> Template:
        return await _list(console, request)

    @post("/admin/tenants")
    async def create_tenant(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = _typed(form, _NEW)
        body: dict[str, Any] = _filled(typed)
        password = str(form.get("owner_password", ""))
        if password:
            body["owner_password"] = password
        try:
            created = await console.uc.tenants.create(actor, msgspec.convert(body, NewTenant))
        except msgspec.ValidationError as exc:
            return await _list(console, request, 400, f"this tenant cannot be made: {exc}", typed)
        except _REFUSED as exc:
            return await _list(console, request, exc.status, exc.message, typed)
        return back_to(href(f"/admin/tenants/{created.id}"))

    @get("/admin/tenants/{tenant_id:str}")
    async def tenant_page(request: AnyRequest, tenant_id: FromPath[str]) -> Template:
        return await _tenant(console, request, tenant_id)

    @post("/admin/tenants/{tenant_id:str}")
    async def update_tenant(request: AnyRequest, tenant_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        typed = _typed(await request.form(), _EDIT)
        try:
            changes = msgspec.convert(_filled(typed), TenantChanges)
            await console.uc.tenants.update(actor, tenant_id, changes)
        except msgspec.ValidationError as exc:
            return await _tenant(console, request, tenant_id, 400, f"this tenant cannot be saved: {exc}", typed)
        except _REFUSED as exc:
            return await _tenant(console, request, tenant_id, exc.status, exc.message, typed)
        return back_to(href(f"/admin/tenants/{tenant_id}"))

    @post("/admin/tenants/{tenant_id:str}/suspend")
    async def suspend_tenant(request: AnyRequest, tenant_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.tenants.suspend(actor, tenant_id)
        except Conflict as exc:
            return await _tenant(console, request, tenant_id, exc.status, exc.message)
        return back_to(href(f"/admin/tenants/{tenant_id}"))

    @post("/admin/tenants/{tenant_id:str}/reactivate")
    async def reactivate_tenant(request: AnyRequest, tenant_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.tenants.reactivate(actor, tenant_id)
        return back_to(href(f"/admin/tenants/{tenant_id}"))

    return [tenants_page, create_tenant, tenant_page, update_tenant, suspend_tenant, reactivate_tenant]
