"""Billing use cases on the memory adapters: plans, checkout, webhooks, entitlements (402), finance."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.memory.gateway import MEMORY_WEBHOOK_SECRET, MemoryGateway
from tesserra_adapters.settings import Settings
from tesserra_adapters.stripe_events import subscription_from
from tesserra_core.domain.billing import Interval, SubscriptionStatus
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Conflict, Forbidden, NotFound, PaymentRequired, Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice, PlanChanges, PlanView
from tesserra_core.usecases.finance import InvoiceQuery
from tesserra_core.usecases.subscriptions import CheckoutStart
from tests import stripe_support as s
from tests.unit.helpers import FakeClock, Team, store

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


async def test_a_redelivered_event_changes_nothing(uc: UseCases, admin: Principal, team: Team) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    customer, sub_id = await subscribe(uc, admin, team, pro)
    payload = s.event("invoice.paid", s.invoice("in_1", customer, sub_id), NOW)
    assert await deliver(uc, payload)
    ack = await uc.billing_events.receive_webhook(payload, s.sign(payload, MEMORY_WEBHOOK_SECRET))
    assert ack.duplicate
    assert not ack.processed
    assert len(store(uc).invoices) == 1


async def test_out_of_order_events_converge_on_the_newest_state(uc: UseCases, admin: Principal, team: Team) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan="pro", currency="EUR"))
    customer = await customer_of(uc, team)
    price = price_of(pro)
    created = s.event("customer.subscription.created", s.subscription("sub_o", customer, price, "incomplete"), NOW)
    active = s.event("customer.subscription.updated", s.subscription("sub_o", customer, price, "active"), NOW + 5)
    cancel = s.subscription("sub_o", customer, price, "active", cancel_at_period_end=True)
    cancelling = s.event("customer.subscription.updated", cancel, NOW + 9)
    deleted = s.event(
        "customer.subscription.deleted",
        s.subscription("sub_o", customer, price, "canceled", ended_at=NOW + 30),
        NOW + 30,
    )
    # Delivered newest first, then the older ones, with a duplicate in between.
    for payload in (cancelling, active, cancelling, created):
        await deliver(uc, payload)
    sub = store(uc).subscriptions["sub_o"]
    assert (sub.status, sub.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    await deliver(uc, deleted)
    late = s.event("customer.subscription.updated", s.subscription("sub_o", customer, price, "active"), NOW + 31)
    await deliver(uc, late)  # newer in time, but a canceled subscription is never revived
    assert store(uc).subscriptions["sub_o"].status is SubscriptionStatus.CANCELED
    assert not (await uc.ports.entitlements.of(team.tenant_id)).subscribed


@pytest.mark.parametrize("case", ["wrong_secret", "stale", "tampered", "missing", "garbage"])
async def test_bad_signatures_are_refused_and_nothing_is_stored(uc: UseCases, case: str) -> None:
    payload = s.event("invoice.paid", s.invoice("in_x", "cus_x", None), NOW)
    signature: str | None = {
        "wrong_secret": s.sign(payload, "whsec_other"),
        "stale": s.sign(payload, MEMORY_WEBHOOK_SECRET, at=NOW - 3600),
        "tampered": s.sign(payload, MEMORY_WEBHOOK_SECRET),
        "missing": None,
        "garbage": "t=abc,v1=zz",
    }[case]
    body = payload.replace(b"in_x", b"in_y") if case == "tampered" else payload
    with pytest.raises(ValidationFailed) as caught:
        await uc.billing_events.receive_webhook(body, signature)
    assert caught.value.code == "invalid_signature"
    assert store(uc).billing_events == {}


async def test_a_signed_payload_that_is_not_an_event_is_400(uc: UseCases) -> None:
    for payload in (b"{}", b"[1]", b"not json", b'{"id":"e","type":"x","created":"soon","data":{"object":{}}}'):
        with pytest.raises(ValidationFailed):
            await uc.billing_events.receive_webhook(payload, s.sign(payload, MEMORY_WEBHOOK_SECRET))
    assert store(uc).billing_events == {}


async def test_a_verified_event_this_version_cannot_read_is_kept_not_refused(uc: UseCases, team: Team) -> None:
    odd = s.subscription("sub_odd", "cus_odd", "price_odd", "some_future_status")
    payload = s.event("customer.subscription.updated", odd, NOW, event_id="evt_odd")
    ack = await uc.billing_events.receive_webhook(payload, s.sign(payload, MEMORY_WEBHOOK_SECRET))
    assert ack.received
    assert not ack.processed
    stored = store(uc).billing_events["evt_odd"]
    assert stored.payload == payload
    assert stored.attempts == 1
    assert "not a Stripe event" in (stored.last_error or "")


async def test_failed_processing_is_recorded_and_retried_until_it_succeeds(
    uc: UseCases, admin: Principal, team: Team, clock: FakeClock
) -> None:
    pro = await synced_plan(uc, admin, "pro", PRO)
    paid = s.event("invoice.paid", s.invoice("in_early", "cus_future", "sub_f"), NOW, event_id="evt_early")
    assert not await deliver(uc, paid)  # no tenant is linked to cus_future yet
    stored = store(uc).billing_events["evt_early"]
    assert stored.processed_at is None
    assert stored.attempts == 1
    assert "cus_future" in (stored.last_error or "")
    assert await uc.retry_billing_events() == 0  # not due yet (backoff)

    linked = s.checkout_completed("cs_f", "cus_future", "sub_f", team.tenant_id)
    assert await deliver(uc, s.event("checkout.session.completed", linked, NOW + 1))
    clock.advance(6)
    assert await uc.retry_billing_events() == 1
    assert store(uc).billing_events["evt_early"].processed_at is not None
    assert store(uc).invoices["in_early"].tenant_id == team.tenant_id
    assert await uc.retry_billing_events() == 0
    assert pro.code == "pro"


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


async def test_finance_figures(uc: UseCases, admin: Principal, team: Team, clock: FakeClock) -> None:
    from tests.unit.conftest import make_team

    pro = await synced_plan(uc, admin, "pro", PRO)
    other = await make_team(uc, admin)
    _, sub_a = await subscribe(uc, admin, team, pro, created=NOW)
    await uc.subscriptions.start_checkout(
        other.owner, CheckoutStart(plan="pro", currency="USD", interval=Interval.YEAR)
    )
    cus_b = await customer_of(uc, other)
    yearly = s.subscription(
        "sub_b", cus_b, price_of(pro, "USD"), amount=19000, currency="usd", interval="year", start=NOW - 86400 * 40
    )
    assert await deliver(uc, s.event("customer.subscription.created", yearly, NOW))
    jan = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())
    feb = int(datetime(2026, 2, 15, tzinfo=UTC).timestamp())
    cus_a = await customer_of(uc, team)
    for inv, cus, sub, amount, cur, at, status in (
        ("in_a1", cus_a, sub_a, 1900, "eur", jan, "paid"),
        ("in_a2", cus_a, sub_a, 1900, "eur", feb, "paid"),
        ("in_b1", cus_b, "sub_b", 19000, "usd", feb, "paid"),
        ("in_b2", cus_b, "sub_b", 19000, "usd", feb + 10, "open"),
    ):
        payload = s.invoice(inv, cus, sub, status, amount=amount, currency=cur, created=at, paid_at=at + 60)
        await deliver(uc, s.event("invoice.paid" if status == "paid" else "invoice.payment_failed", payload, NOW))

    mrr = {r.currency: r for r in (await uc.finance.recurring(admin)).items}
    assert (mrr["EUR"].mrr, mrr["EUR"].arr, mrr["EUR"].subscriptions) == (1900, 22800, 1)
    assert (mrr["USD"].mrr, mrr["USD"].arr) == (1583, 19000)

    counts = await uc.finance.subscriptions(admin)
    assert counts.active == 2
    assert {(c.plan, c.status, c.count) for c in counts.items} == {("pro", "active", 2)}

    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    revenue = await uc.finance.revenue(admin, since, until)
    assert [(r.month, r.currency, r.amount, r.invoices) for r in revenue.items] == [
        ("2026-01", "EUR", 1900, 1),
        ("2026-02", "EUR", 1900, 1),
        ("2026-02", "USD", 19000, 1),
    ]

    page = await uc.finance.invoices(admin, InvoiceQuery(currency="usd"), PageRequest(10, 0))
    assert [i.id for i in page.items] == ["in_b2", "in_b1"]
    page = await uc.finance.invoices(admin, InvoiceQuery(status="paid", tenant_id=team.tenant_id), PageRequest(1, 1))
    assert (page.total, [i.id for i in page.items]) == (2, ["in_a1"])
    with pytest.raises(ValidationFailed):
        await uc.finance.invoices(admin, InvoiceQuery(status="lost"), PageRequest())
    with pytest.raises(Unprocessable):  # a period that ends before it starts: semantic, 422
        await uc.finance.revenue(admin, until, since)

    ended = s.subscription(
        "sub_b", cus_b, price_of(pro, "USD"), "canceled", currency="usd", interval="year", ended_at=NOW + 100
    )
    assert await deliver(uc, s.event("customer.subscription.deleted", ended, NOW + 100))
    churn = await uc.finance.churn(
        admin, datetime.fromtimestamp(NOW - 86400, UTC), datetime.fromtimestamp(NOW + 86400, UTC)
    )
    assert (churn.active_at_start, churn.churned, churn.rate) == (2, 1, 0.5)


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


async def test_the_background_loop_retries_due_events(
    uc: UseCases, admin: Principal, team: Team, clock: FakeClock
) -> None:
    await synced_plan(uc, admin, "pro", PRO)
    paid = s.event("invoice.paid", s.invoice("in_loop", "cus_loop", None), NOW, event_id="evt_loop")
    assert not await deliver(uc, paid)
    linked = s.checkout_completed("cs_loop", "cus_loop", "sub_loop", team.tenant_id)
    assert await deliver(uc, s.event("checkout.session.completed", linked, NOW))
    clock.advance(10)
    uc.retry_billing_events.interval = 0.01
    async with uc.retry_billing_events.running():
        for _ in range(200):
            if store(uc).billing_events["evt_loop"].processed_at is not None:
                break
            await asyncio.sleep(0.01)
    assert store(uc).billing_events["evt_loop"].processed_at is not None
    assert "in_loop" in store(uc).invoices


async def test_event_metadata_cannot_move_a_subscription_to_another_tenant(
    uc: UseCases, admin: Principal, team: Team
) -> None:
    from tests.unit.conftest import make_team

    pro = await synced_plan(uc, admin, "pro", PRO)
    victim = await make_team(uc, admin)
    await uc.subscriptions.start_checkout(team.owner, CheckoutStart(plan="pro", currency="EUR"))
    customer = await customer_of(uc, team)
    sub = s.subscription("sub_meta", customer, price_of(pro), tenant_id=victim.tenant_id)
    assert await deliver(uc, s.event("customer.subscription.created", sub, NOW))
    assert store(uc).subscriptions["sub_meta"].tenant_id == team.tenant_id  # the customer's tenant wins
    assert not (await uc.ports.entitlements.of(victim.tenant_id)).subscribed
