"""Plans, prices, webhooks and subscriptions the billing tests share."""

from __future__ import annotations

import time

from tesserra_adapters.memory.gateway import MEMORY_WEBHOOK_SECRET, MemoryGateway
from tesserra_core.domain.billing import Interval
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.facade import UseCases
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice, PlanView
from tesserra_core.usecases.subscriptions import CheckoutStart
from tests import stripe_support as s
from tests.unit.helpers import Team

PRO = PlanLimits(projects=50, resources=500, domains=20, mailboxes=100, storage_bytes=None, agents=10, installations=50)
BASIC = PlanLimits(
    projects=10, resources=50, domains=5, mailboxes=20, storage_bytes=10 * 1024**3, agents=3, installations=10
)


def gateway(uc: UseCases) -> MemoryGateway:
    assert isinstance(uc.ports.gateway, MemoryGateway)
    return uc.ports.gateway


async def synced_plan(uc: UseCases, admin: Principal, code: str, limits: PlanLimits, amount: int = 1900) -> PlanView:
    plan = await uc.plans.create(
        admin,
        NewPlan(
            code=code,
            name=code.title(),
            limits=limits,
            prices=[
                NewPrice(currency="eur", interval=Interval.MONTH, amount=amount),
                NewPrice(currency="USD", interval=Interval.YEAR, amount=amount * 10),
            ],
        ),
    )
    return await uc.plans.sync(admin, plan.id)


def price_of(plan: PlanView, currency: str = "EUR") -> str:
    found = next(p.stripe_price_id for p in plan.prices if p.currency == currency and p.active)
    assert found is not None
    return found


async def deliver(uc: UseCases, payload: bytes) -> bool:
    """A webhook as Stripe sends it (signed now); whether this delivery applied it."""
    ack = await uc.billing_events.receive_webhook(payload, s.sign(payload, MEMORY_WEBHOOK_SECRET))
    return ack.processed


async def customer_of(uc: UseCases, team: Team) -> str:
    async with uc.ports.uow(read_only=True) as uow:
        customer = await uow.subscriptions.customer(team.tenant_id)
    assert customer is not None
    return customer.customer_id


NOW = int(time.time())


async def subscribe(uc: UseCases, admin: Principal, team: Team, plan: PlanView, created: int = NOW) -> tuple[str, str]:
    await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan=plan.code, currency="EUR"))
    customer = await customer_of(uc, team)
    sub_id = f"sub_{team.tenant_id[-8:]}"
    assert await deliver(
        uc,
        s.event("checkout.session.completed", s.checkout_completed("cs_1", customer, sub_id, team.tenant_id), created),
    )
    assert await deliver(
        uc, s.event("customer.subscription.created", s.subscription(sub_id, customer, price_of(plan)), created)
    )
    return customer, sub_id
