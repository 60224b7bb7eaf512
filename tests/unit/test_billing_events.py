"""Stripe webhooks on the memory adapters: signatures, redelivery, order, unreadable events, retries, and
events that try to reach another tenant."""

from __future__ import annotations

import asyncio

import pytest

from tesserra_adapters.memory.gateway import MEMORY_WEBHOOK_SECRET
from tesserra_core.domain.billing import SubscriptionStatus
from tesserra_core.domain.identity import Principal
from tesserra_core.errors import ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.subscriptions import CheckoutStart
from tests import stripe_support as s
from tests.unit.billing_support import NOW, PRO, customer_of, deliver, price_of, subscribe, synced_plan
from tests.unit.helpers import FakeClock, Team, store


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
