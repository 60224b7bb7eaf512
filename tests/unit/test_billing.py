"""Billing use cases on the memory adapters: plans, checkout, entitlements (402) and their cache."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.settings import Settings
from tesserra_adapters.stripe_events import subscription_from
from tesserra_core.domain.billing import Interval, SubscriptionStatus
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Conflict, Forbidden, NotFound, PaymentRequired, Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice, PlanChanges
from tesserra_core.usecases.subscriptions import CheckoutStart
from tests import stripe_support as s
from tests.unit.billing_support import BASIC, NOW, PRO, deliver, gateway, price_of, subscribe, synced_plan
from tests.unit.helpers import FakeClock, Team


async def test_catalogue_lists_active_plans_with_active_prices(uc: UseCases, admin: Principal) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    old = await uc.plans.create(admin, NewPlan(code="legacy", name="Legacy"))
    await uc.plans.update(admin, old.id, PlanChanges(active=False))
    await uc.plans.add_price(admin, pro.id, NewPrice(currency="EUR", interval=Interval.MONTH, amount=2500))

    plans = (await uc.plans.list()).items
    assert [p.code for p in plans] == ["pro"]
    eur = [p for p in plans[0].prices if p.currency == "EUR"]
    assert [(p.amount, p.synced) for p in eur] == [(2500, False)]  # the replaced price is archived
    assert plans[0].limits == PRO
    assert {p.code for p in (await uc.plans.admin_list(admin)).items} == {"pro", "legacy"}
    second = await uc.plans.admin_list(admin, PageRequest(1, 1))
    assert (second.total, [p.code for p in second.items]) == (2, ["legacy"])


async def test_only_platform_admins_manage_plans(uc: UseCases, admin: Principal, team: Team) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    with pytest.raises(Forbidden):
        await uc.plans.create(team.owner, NewPlan(code="x", name="X"))
    with pytest.raises(Forbidden):
        await uc.plans.update(team.owner, pro.id, PlanChanges(name="Mine"))
    with pytest.raises(Forbidden):
        await uc.plans.sync(team.owner, pro.id)
    with pytest.raises(Forbidden):
        await uc.finance.recurring(team.owner)


@pytest.mark.parametrize(
    ("plan", "code"),
    [
        (NewPlan(code="Bad Code", name="x"), "invalid_plan_code"),
        (NewPlan(code="ok", name=" "), "invalid_name"),
        (NewPlan(code="ok", name="x", prices=[NewPrice("EURO", Interval.MONTH, 1)]), "invalid_currency"),
        (NewPlan(code="ok", name="x", prices=[NewPrice("XXZ", Interval.MONTH, 1)]), "invalid_currency"),
        (NewPlan(code="ok", name="x", prices=[NewPrice("EUR", Interval.MONTH, -1)]), "invalid_amount"),
        (NewPlan(code="ok", name="x", prices=[NewPrice("EUR", Interval.MONTH, 10**12)]), "invalid_amount"),
        (NewPlan(code="ok", name="x", limits=PlanLimits(projects=-1)), "invalid_limit"),
    ],
)
async def test_bad_plans_are_refused(uc: UseCases, admin: Principal, plan: NewPlan, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.plans.create(admin, plan)
    assert caught.value.code == code
    assert (await uc.plans.admin_list(admin)).total == 0


async def test_two_prices_for_one_currency_and_interval_are_unprocessable(uc: UseCases, admin: Principal) -> None:
    plan = NewPlan(
        code="ok", name="x", prices=[NewPrice("EUR", Interval.MONTH, 1), NewPrice(" eur", Interval.MONTH, 2)]
    )
    with pytest.raises(Unprocessable) as caught:
        await uc.plans.create(admin, plan)
    assert caught.value.code == "duplicate_price"
    assert (await uc.plans.admin_list(admin)).total == 0


async def test_plan_codes_are_unique(uc: UseCases, admin: Principal) -> None:
    await uc.plans.create(admin, NewPlan(code="pro", name="Pro"))
    with pytest.raises(Conflict):
        await uc.plans.create(admin, NewPlan(code="pro", name="Pro again"))


async def test_checkout_needs_a_synced_price_in_that_currency(uc: UseCases, admin: Principal, team: Team) -> None:
    plan = await uc.plans.create(admin, NewPlan(code="pro", name="Pro", prices=[NewPrice("EUR", Interval.MONTH, 1900)]))
    with pytest.raises(Conflict, match="plan has no synced price for EUR") as caught:
        await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan="pro", currency="EUR"))
    assert caught.value.code == "price_not_synced"
    await uc.plans.sync(admin, plan.id)
    with pytest.raises(Conflict, match="plan has no synced price for BRL"):
        await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan="pro", currency="BRL"))
    with pytest.raises(NotFound):
        await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan="gold", currency="EUR"))
    with pytest.raises(ValidationFailed):
        await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan="pro", currency="E1R"))
    with pytest.raises(Forbidden):  # members hold no billing:write
        await uc.subscriptions.start_checkout(team.member, CheckoutStart(plan="pro", currency="EUR"))
    assert gateway(uc).sessions == {}


async def test_checkout_reuses_the_customer_and_honours_idempotency_keys(
    uc: UseCases, admin: Principal, team: Team
) -> None:
    await synced_plan(uc, admin, "pro", PRO)
    start = CheckoutStart(plan="pro", currency="EUR")
    first = await uc.subscriptions.start_checkout(team.owner, start, "key-1")
    again = await uc.subscriptions.start_checkout(team.owner, start, "key-1")
    other = await uc.subscriptions.start_checkout(team.owner, start, "key-2")
    assert first == again
    assert other.session_id != first.session_id
    assert first.url.endswith(first.session_id)
    assert len(gateway(uc).customers) == 1
    request = gateway(uc).sessions[first.session_id]
    assert request.tenant_id == team.tenant_id
    assert request.idempotency_key.startswith("tesserra-checkout-")
    assert "key-1" not in request.idempotency_key  # derived, not passed through


async def test_concurrent_checkouts_with_one_key_open_one_session(uc: UseCases, admin: Principal, team: Team) -> None:
    await synced_plan(uc, admin, "pro", PRO)
    start = CheckoutStart(plan="pro", currency="EUR", interval=Interval.MONTH)
    views = await asyncio.gather(*(uc.subscriptions.start_checkout(team.owner, start, "same") for _ in range(8)))
    assert len({v.session_id for v in views}) == 1
    assert len(gateway(uc).sessions) == 1
    assert len(gateway(uc).customers) == 1
    async with uc.ports.uow(read_only=True) as uow:
        assert await uow.subscriptions.customer(team.tenant_id) is not None


async def test_402_without_subscription_then_plan_limits_after_upgrade_and_downgrade(
    uc: UseCases, admin: Principal, team: Team
) -> None:
    free = await uc.plans.create(admin, NewPlan(code="free", name="Free", limits=PlanLimits(projects=2)))
    pro = await synced_plan(uc, admin, "pro", PRO)
    basic = await synced_plan(uc, admin, "basic", BASIC, amount=900)
    entitlements = uc.ports.entitlements

    before = await entitlements.of(team.tenant_id)
    assert (before.plan, before.subscribed, before.limits) == ("free", False, free.limits)
    before.allow("projects", used=1)
    with pytest.raises(PaymentRequired) as caught:
        before.allow("projects", used=2)
    assert caught.value.code == "subscription_required"

    customer, sub_id = await subscribe(uc, admin, team, pro)
    upgraded = await entitlements.of(team.tenant_id)  # the cached free entitlement was evicted
    assert (upgraded.plan, upgraded.subscribed) == ("pro", True)
    upgraded.allow("projects", used=49)
    with pytest.raises(PaymentRequired) as caught:
        upgraded.allow("projects", used=50)
    assert caught.value.code == "quota_exceeded"

    sub = s.subscription(sub_id, customer, price_of(basic), amount=900)
    assert await deliver(uc, s.event("customer.subscription.updated", sub, NOW + 10))
    downgraded = await entitlements.of(team.tenant_id)
    assert (downgraded.plan, downgraded.limits) == ("basic", BASIC)
    with pytest.raises(PaymentRequired):
        downgraded.allow("projects", used=10)

    ended = s.subscription(sub_id, customer, price_of(basic), "canceled", ended_at=NOW + 20)
    assert await deliver(uc, s.event("customer.subscription.deleted", ended, NOW + 20))
    after = await entitlements.of(team.tenant_id)
    assert (after.plan, after.subscribed) == ("free", False)
    view = await uc.subscriptions.get(team.owner)
    assert view.status is SubscriptionStatus.CANCELED
    assert not view.subscribed


@pytest.mark.parametrize("status", ["past_due", "unpaid", "incomplete", "paused"])
async def test_only_active_or_trialing_entitle(uc: UseCases, admin: Principal, team: Team, status: str) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    customer, sub_id = await subscribe(uc, admin, team, pro)
    assert await deliver(
        uc, s.event("customer.subscription.updated", s.subscription(sub_id, customer, price_of(pro), status), NOW + 5)
    )
    entitlement = await uc.ports.entitlements.of(team.tenant_id)
    assert not entitlement.subscribed
    trial = s.subscription(sub_id, customer, price_of(pro), "trialing")
    assert await deliver(uc, s.event("customer.subscription.updated", trial, NOW + 6))
    assert (await uc.ports.entitlements.of(team.tenant_id)).subscribed


async def test_cancel_at_period_end_keeps_the_plan_until_then(uc: UseCases, admin: Principal, team: Team) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    with pytest.raises(NotFound):
        await uc.subscriptions.cancel(team.owner)
    customer, sub_id = await subscribe(uc, admin, team, pro)
    gw = gateway(uc)
    gw.subscriptions[sub_id] = subscription_from(s.subscription(sub_id, customer, price_of(pro)))
    view = await uc.subscriptions.cancel(team.owner)
    assert view.cancel_at_period_end
    assert view.subscribed
    assert gw.subscriptions[sub_id].cancel_at_period_end
    assert (await uc.subscriptions.portal(team.owner)).url.endswith(customer)


async def test_another_workers_cached_entitlement_is_evicted_through_the_revocation_feed(
    uc: UseCases, admin: Principal, team: Team, settings: Settings, clock: FakeClock, exit_stack: AsyncExitStack
) -> None:
    other = memory_ports(settings, exit_stack, uow=uc.ports.uow, clock=clock, gateway=uc.ports.gateway)
    worker_b = await build(other, settings)
    pro = await synced_plan(uc, admin, "pro", PRO)

    assert not (await worker_b.ports.entitlements.of(team.tenant_id)).subscribed  # cached on B
    await worker_b.revocations.poll()  # B's cursor starts here
    await subscribe(uc, admin, team, pro)  # processed on A
    assert (await uc.ports.entitlements.of(team.tenant_id)).subscribed
    assert not (await worker_b.ports.entitlements.of(team.tenant_id)).subscribed  # still B's cached copy
    await worker_b.revocations.poll()
    assert (await worker_b.ports.entitlements.of(team.tenant_id)).plan == "pro"


async def test_entitlements_are_cached_for_a_bounded_time(
    uc: UseCases, admin: Principal, team: Team, clock: FakeClock
) -> None:
    free = await uc.plans.create(admin, NewPlan(code="free", name="Free", limits=PlanLimits(projects=1)))
    assert (await uc.ports.entitlements.of(team.tenant_id)).limits == free.limits
    await uc.plans.update(admin, free.id, PlanChanges(limits=PlanLimits(projects=7)))  # no event evicts this
    assert (await uc.ports.entitlements.of(team.tenant_id)).limits.projects == 1
    clock.advance(61)
    assert (await uc.ports.entitlements.of(team.tenant_id)).limits.projects == 7
