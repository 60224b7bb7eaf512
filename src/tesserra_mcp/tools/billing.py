"""Billing tools: plans, the tenant's subscription, checkout and cancellation, admin finance."""

from tesserra_core.domain.billing import Interval
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import billing_plans, finance, subscriptions
from tesserra_core.usecases.billing_plans import PlanView
from tesserra_core.usecases.finance import InvoiceView, RecurringView, SubscriptionCounts
from tesserra_core.usecases.subscriptions import CheckoutStart, CheckoutView, SubscriptionView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


# The plans are public over REST (ListPlans checks no scope); as a tool they are shown to keys that
# may read their tenant, which the plans' limits are about.
@tools.tool(billing_plans.ListPlans, scope=Scope.TENANT_READ)
async def list_plans(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[PlanView]:
    return await uc.plans.list(PageRequest(limite, offset))


@tools.tool(subscriptions.GetSubscription)
async def get_subscription(*, uc: UseCases, actor: Principal) -> SubscriptionView:
    return await uc.subscriptions.get(actor)


@tools.tool(subscriptions.ListTenantInvoices)
async def list_invoices(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[InvoiceView]:
    return await uc.subscriptions.invoices(actor, PageRequest(limite, offset))


@tools.tool(subscriptions.GetTenantInvoice)
async def get_invoice(invoice_id: str, *, uc: UseCases, actor: Principal) -> InvoiceView:
    return await uc.subscriptions.invoice(actor, invoice_id)


@tools.tool(subscriptions.StartCheckout, tier=Tier.STANDARD)
async def create_checkout(
    plan: str, currency: str, interval: Interval = Interval.MONTH, *, uc: UseCases, actor: Principal
) -> CheckoutView:
    return await uc.subscriptions.start_checkout(
        actor, convert(CheckoutStart, {"plan": plan, "currency": currency, "interval": interval})
    )


@tools.tool(subscriptions.CancelSubscription, tier=Tier.STANDARD)
async def cancel_subscription(*, uc: UseCases, actor: Principal) -> SubscriptionView:
    return await uc.subscriptions.cancel(actor)


@tools.tool(finance.Recurring, tier=Tier.ADMIN)
async def finance_mrr(*, uc: UseCases, actor: Principal) -> RecurringView:
    return await uc.finance.recurring(actor)


@tools.tool(finance.CountSubscriptions, tier=Tier.ADMIN)
async def finance_subscriptions(*, uc: UseCases, actor: Principal) -> SubscriptionCounts:
    return await uc.finance.subscriptions(actor)
