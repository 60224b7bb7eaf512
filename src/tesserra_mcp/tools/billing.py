"""Billing tools: plans, the tenant's subscription, checkout and cancellation, admin finance."""

from tesserra_core.domain.billing import Interval
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.billing_plans import ListPlans, PlanView
from tesserra_core.usecases.finance import CountSubscriptions, Recurring, RecurringView, SubscriptionCounts
from tesserra_core.usecases.subscriptions import (
    CancelSubscription,
    CheckoutStart,
    CheckoutView,
    GetSubscription,
    StartCheckout,
    SubscriptionView,
)
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


# The plans are public over REST (ListPlans checks no scope); as a tool they are shown to keys that
# may read their tenant, which the plans' limits are about.
@tools.tool(ListPlans, scope=Scope.TENANT_READ)
async def list_plans(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[PlanView]:
    """Active plans with their limits and prices per currency and interval (amounts in minor units)."""
    return await uc.plans.list(PageRequest(limite, offset))


@tools.tool(GetSubscription)
async def get_subscription(*, uc: UseCases, actor: Principal) -> SubscriptionView:
    """The tenant's plan, subscription status, period end and limits."""
    return await uc.subscriptions.get(actor)


@tools.tool(StartCheckout, tier=Tier.STANDARD)
async def create_checkout(
    plan: str, currency: str, interval: Interval = Interval.MONTH, *, uc: UseCases, actor: Principal
) -> CheckoutView:
    """Start a Stripe Checkout for a plan (by code) in a currency (ISO 4217); returns the page URL."""
    return await uc.subscriptions.start_checkout(
        actor, convert(CheckoutStart, {"plan": plan, "currency": currency, "interval": interval})
    )


@tools.tool(CancelSubscription, tier=Tier.STANDARD)
async def cancel_subscription(*, uc: UseCases, actor: Principal) -> SubscriptionView:
    """Cancel the tenant's subscription at the end of the paid period."""
    return await uc.subscriptions.cancel(actor)


@tools.tool(Recurring, tier=Tier.ADMIN)
async def finance_mrr(*, uc: UseCases, actor: Principal) -> RecurringView:
    """MRR and ARR per currency (platform administrators)."""
    return await uc.finance.recurring(actor)


@tools.tool(CountSubscriptions, tier=Tier.ADMIN)
async def finance_subscriptions(*, uc: UseCases, actor: Principal) -> SubscriptionCounts:
    """Subscriptions by plan and status (platform administrators)."""
    return await uc.finance.subscriptions(actor)
