"""/api/planos, /api/admin/planos, /api/assinatura, /api/webhooks/stripe and /api/admin/financeiro.

Which operations need a subscription (402): every create whose quota the free plan would exceed
(projects, resources, domains, mailboxes, storage, agents, installations). Those routes document
402 themselves; the rule is ``Entitlement.allow`` over the entitlements computed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Request, Router, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from tesserra_core.domain.billing import CURRENCY
from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.billing_events import ReceiveWebhook, WebhookAck
from tesserra_core.usecases.billing_plans import (
    AddPrice,
    AdminGetPlan,
    AdminListPlans,
    ArchivePrice,
    CreatePlan,
    ListPlans,
    NewPlan,
    NewPrice,
    PlanChanges,
    PlanView,
    SyncPlan,
    UpdatePlan,
)
from tesserra_core.usecases.finance import (
    Churn,
    ChurnView,
    CountSubscriptions,
    InvoiceQuery,
    InvoiceView,
    ListInvoices,
    Recurring,
    RecurringView,
    Revenue,
    RevenueView,
    SubscriptionCounts,
)
from tesserra_core.usecases.subscriptions import (
    BillingPortal,
    CancelSubscription,
    CheckoutStart,
    CheckoutView,
    GetSubscription,
    GetTenantInvoice,
    ListTenantInvoices,
    PortalView,
    StartCheckout,
    SubscriptionView,
)
from tesserra_http.conventions import IdempotencyKey, declare
from tesserra_http.dependencies import Caller, Paging

_PERIOD = " since must be before until, at most ten years apart (422 invalid_period otherwise)."
Since = Annotated[datetime | None, QueryParameter(required=False, description="Start (inclusive), ISO 8601;" + _PERIOD)]
Until = Annotated[datetime | None, QueryParameter(required=False, description="End (exclusive), ISO 8601;" + _PERIOD)]


def plans_routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListPlans, public=True, errors=(400,)))
    async def list_plans(page: Paging) -> Page[PlanView]:
        return await uc.plans.list(page)

    return Router("/api/planos", tags=["Plans"], route_handlers=[list_plans])


def admin_plans_routes(uc: UseCases) -> Router:
    rules: dict[str, Any] = {"rate_limit": "admin"}

    @get("/", **declare(uses=AdminListPlans, errors=(400, 403), **rules))
    async def list_all(request: Caller, page: Paging) -> Page[PlanView]:
        return await uc.plans.admin_list(request.user, page)

    @post("/", status_code=201, **declare(uses=CreatePlan, idempotent=True, errors=(400, 403, 409), **rules))
    async def create(data: JSONBody[NewPlan], request: Caller) -> PlanView:
        return await uc.plans.create(request.user, data)

    @get("/{plan_id:str}", **declare(uses=AdminGetPlan, errors=(403, 404), **rules))
    async def get_one(plan_id: FromPath[str], request: Caller) -> PlanView:
        return await uc.plans.admin_get(request.user, plan_id)

    @patch("/{plan_id:str}", **declare(uses=UpdatePlan, errors=(400, 403, 404), **rules))
    async def update(plan_id: FromPath[str], data: JSONBody[PlanChanges], request: Caller) -> PlanView:
        return await uc.plans.update(request.user, plan_id, data)

    @post(
        "/{plan_id:str}/arquivar",
        status_code=200,
        **declare(
            uses=UpdatePlan, errors=(403, 404), description="Archives the plan: PATCH with ``active: false``.", **rules
        ),
    )
    async def archive(plan_id: FromPath[str], request: Caller) -> PlanView:
        return await uc.plans.update(request.user, plan_id, PlanChanges(active=False))

    @post(
        "/{plan_id:str}/precos",
        status_code=201,
        **declare(uses=AddPrice, idempotent=True, errors=(400, 403, 404), **rules),
    )
    async def add_price(plan_id: FromPath[str], data: JSONBody[NewPrice], request: Caller) -> PlanView:
        return await uc.plans.add_price(request.user, plan_id, data)

    @post(
        "/{plan_id:str}/precos/{price_id:str}/arquivar",
        status_code=200,
        **declare(uses=ArchivePrice, errors=(403, 404), **rules),
    )
    async def archive_price(plan_id: FromPath[str], price_id: FromPath[str], request: Caller) -> PlanView:
        return await uc.plans.archive_price(request.user, plan_id, price_id)

    @post("/{plan_id:str}/sync", status_code=200, **declare(uses=SyncPlan, errors=(403, 404, 422, 503), **rules))
    async def sync(plan_id: FromPath[str], request: Caller) -> PlanView:
        return await uc.plans.sync(request.user, plan_id)

    handlers = [list_all, create, get_one, update, archive, add_price, archive_price, sync]
    return Router("/api/admin/planos", tags=["Admin", "Plans"], route_handlers=handlers)


def subscription_routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=GetSubscription, errors=(403,)))
    async def current(request: Caller) -> SubscriptionView:
        return await uc.subscriptions.get(request.user)

    @post(
        "/checkout",
        status_code=201,
        **declare(
            uses=StartCheckout,
            idempotent=True,
            errors=(400, 403, 404, 409, 422, 503),
            description="The caller's idempotency key is the request's Idempotency-Key.",
        ),
    )
    async def checkout(data: JSONBody[CheckoutStart], request: Caller, idempotency_key: IdempotencyKey) -> CheckoutView:
        return await uc.subscriptions.start_checkout(request.user, data, idempotency_key)

    @post("/cancelar", status_code=200, **declare(uses=CancelSubscription, errors=(403, 404, 503)))
    async def cancel(request: Caller) -> SubscriptionView:
        return await uc.subscriptions.cancel(request.user)

    @post("/portal", status_code=200, **declare(uses=BillingPortal, errors=(403, 404, 503)))
    async def portal(request: Caller) -> PortalView:
        return await uc.subscriptions.portal(request.user)

    @get("/faturas", **declare(uses=ListTenantInvoices, errors=(400, 403)))
    async def invoices(request: Caller, page: Paging) -> Page[InvoiceView]:
        return await uc.subscriptions.invoices(request.user, page)

    @get("/faturas/{invoice_id:str}", **declare(uses=GetTenantInvoice, errors=(403, 404)))
    async def invoice(invoice_id: FromPath[str], request: Caller) -> InvoiceView:
        return await uc.subscriptions.invoice(request.user, invoice_id)

    handlers = [current, checkout, cancel, portal, invoices, invoice]
    return Router("/api/assinatura", tags=["Subscription"], route_handlers=handlers)


def webhook_routes(uc: UseCases) -> Router:
    @post(
        "/stripe",
        status_code=200,
        **declare(
            uses=ReceiveWebhook,
            public=True,
            errors=(400, 503),
            description="The signature comes in Stripe-Signature (400 if bad or stale); a stored event answers 200.",
        ),
    )
    async def stripe_webhook(request: Request[Any, Any, Any]) -> WebhookAck:
        return await uc.billing_events.receive_webhook(await request.body(), request.headers.get("stripe-signature"))

    return Router("/api/webhooks", tags=["Webhooks"], route_handlers=[stripe_webhook])


def finance_routes(uc: UseCases) -> Router:
    rules: dict[str, Any] = {"rate_limit": "admin"}

    @get("/mrr", **declare(uses=Recurring, errors=(403,), **rules))
    async def recurring(request: Caller) -> RecurringView:
        return await uc.finance.recurring(request.user)

    @get("/assinaturas", **declare(uses=CountSubscriptions, errors=(403,), **rules))
    async def subscriptions(request: Caller) -> SubscriptionCounts:
        return await uc.finance.subscriptions(request.user)

    @get("/receita", **declare(uses=Revenue, errors=(400, 403, 422), **rules))
    async def revenue(request: Caller, since: Since = None, until: Until = None) -> RevenueView:
        return await uc.finance.revenue(request.user, since, until)

    @get("/churn", **declare(uses=Churn, errors=(400, 403, 422), **rules))
    async def churn(request: Caller, since: Since = None, until: Until = None) -> ChurnView:
        return await uc.finance.churn(request.user, since, until)

    @get("/faturas", **declare(uses=ListInvoices, errors=(400, 403, 422), **rules))
    async def invoices(
        request: Caller,
        page: Paging,
        since: Since = None,
        until: Until = None,
        status: Annotated[
            Literal["draft", "open", "paid", "uncollectible", "void"] | None, QueryParameter(required=False)
        ] = None,
        currency: Annotated[
            str | None, QueryParameter(required=False, pattern=CURRENCY.pattern, description="ISO 4217 code")
        ] = None,
        tenant_id: Annotated[str | None, QueryParameter(required=False)] = None,
    ) -> Page[InvoiceView]:
        query = InvoiceQuery(status=status, currency=currency, tenant_id=tenant_id, since=since, until=until)
        return await uc.finance.invoices(request.user, query, page)

    return Router(
        "/api/admin/financeiro",
        tags=["Admin", "Finance"],
        route_handlers=[recurring, subscriptions, revenue, churn, invoices],
    )
