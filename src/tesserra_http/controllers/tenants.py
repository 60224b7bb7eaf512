"""/api/tenants/atual and /api/admin/tenants."""

from __future__ import annotations

from litestar import Router, get, patch, post
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.tenants import (
    CreateTenant,
    CurrentTenant,
    GetTenant,
    ListTenants,
    NewTenant,
    SetTenantStatus,
    TenantChanges,
    UpdateTenant,
)
from tesserra_core.usecases.views import TenantView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


def current_routes(uc: UseCases) -> Router:
    @get("/atual", **declare(uses=CurrentTenant, errors=(403,)))
    async def current(request: Caller) -> TenantView:
        return await uc.tenants.current(request.user)

    return Router("/api/tenants", tags=["Tenants"], route_handlers=[current])


def admin_routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListTenants, errors=(400, 403), rate_limit="admin"))
    async def list_tenants(request: Caller, page: Paging) -> Page[TenantView]:
        return await uc.tenants.list(request.user, page)

    @post(
        "/", status_code=201, **declare(uses=CreateTenant, idempotent=True, errors=(400, 403, 409), rate_limit="admin")
    )
    async def create_tenant(data: JSONBody[NewTenant], request: Caller) -> TenantView:
        return await uc.tenants.create(request.user, data)

    @get("/{tenant_id:str}", **declare(uses=GetTenant, errors=(403, 404), rate_limit="admin"))
    async def get_tenant(tenant_id: FromPath[str], request: Caller) -> TenantView:
        return await uc.tenants.get(request.user, tenant_id)

    @patch("/{tenant_id:str}", **declare(uses=UpdateTenant, errors=(400, 403, 404, 409), rate_limit="admin"))
    async def update_tenant(tenant_id: FromPath[str], data: JSONBody[TenantChanges], request: Caller) -> TenantView:
        return await uc.tenants.update(request.user, tenant_id, data)

    @post(
        "/{tenant_id:str}/suspend",
        status_code=200,
        **declare(
            uses=SetTenantStatus, errors=(403, 404, 409), rate_limit="admin", description="This route suspends it."
        ),
    )
    async def suspend_tenant(tenant_id: FromPath[str], request: Caller) -> TenantView:
        return await uc.tenants.suspend(request.user, tenant_id)

    @post(
        "/{tenant_id:str}/reactivate",
        status_code=200,
        **declare(
            uses=SetTenantStatus, errors=(403, 404), rate_limit="admin", description="This route reactivates it."
        ),
    )
    async def reactivate_tenant(tenant_id: FromPath[str], request: Caller) -> TenantView:
        return await uc.tenants.reactivate(request.user, tenant_id)

    handlers = [list_tenants, create_tenant, get_tenant, update_tenant, suspend_tenant, reactivate_tenant]
    return Router("/api/admin/tenants", tags=["Admin"], route_handlers=handlers)
