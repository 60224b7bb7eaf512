"""Billing repositories contract (memory, SQLite, PostgreSQL): plans and prices, customers and
subscriptions, invoices, provider events, and the finance aggregates (measured as deltas, since
the SQL backends share one database across tests)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from tesserra_core.domain.billing import (
    BillingCustomer,
    Interval,
    Invoice,
    Plan,
    Price,
    StoredEvent,
    Subscription,
    SubscriptionStatus,
)
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Conflict
from tesserra_core.ports.billing import InvoiceFilter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, tenant, unique


def plan(**changes: Any) -> Plan:
    plan_id = new_id()
    values: dict[str, Any] = {
        "id": plan_id,
        "code": unique("plan"),
        "name": "Pro",
        "description": "For teams",
        "limits": PlanLimits(projects=50, storage_bytes=None),
        "active": True,
        "stripe_product_id": None,
        "created_at": T0,
        "updated_at": T0,
        "prices": (
            Price(
                id=new_id(),
                plan_id=plan_id,
                currency="EUR",
                interval=Interval.MONTH,
                amount=1900,
                active=True,
                stripe_price_id=None,
                created_at=T0,
            ),
        ),
    }
    values.update(changes)
    return Plan(**values)


async def a_tenant(uow_factory: UnitOfWorkFactory) -> str:
    t = tenant()
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    return t.id


def subscription(tenant_id: str, **changes: Any) -> Subscription:
    values: dict[str, Any] = {
        "id": unique("sub"),
        "tenant_id": tenant_id,
        "customer_id": unique("cus"),
        "plan_id": None,
        "price_id": "price_x",
        "status": SubscriptionStatus.ACTIVE,
        "currency": "EUR",
        "interval": Interval.MONTH,
        "amount": 1900,
        "current_period_end": T0 + timedelta(days=30),
        "cancel_at_period_end": False,
        "started_at": T0,
        "ended_at": None,
        "as_of": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return Subscription(**values)


def invoice(tenant_id: str, **changes: Any) -> Invoice:
    values: dict[str, Any] = {
        "id": unique("in"),
        "tenant_id": tenant_id,
        "customer_id": "cus_x",
        "subscription_id": None,
        "status": "paid",
        "currency": "EUR",
        "amount_due": 1900,
        "amount_paid": 1900,
        "created_at": T0,
        "paid_at": T0 + timedelta(minutes=1),
        "as_of": T0,
    }
    values.update(changes)
    return Invoice(**values)


async def test_plans_round_trip_with_prices_and_updates(uow_factory: UnitOfWorkFactory) -> None:
    p = plan()
    async with uow_factory() as uow:
        await uow.plans.add(p)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.plans.get(p.id) == p
        assert await uow.plans.get_by_code(p.code) == p
        assert await uow.plans.get("missing") is None

    yearly = Price(
        id=new_id(),
        plan_id=p.id,
        currency="USD",
        interval=Interval.YEAR,
        amount=19000,
        active=True,
        stripe_price_id=unique("price"),
        created_at=T0 + timedelta(seconds=1),
    )
    archived = msgspec.structs.replace(p.prices[0], active=False, stripe_price_id=unique("price"))
    changed = msgspec.structs.replace(
        p, name="Pro 2", active=False, stripe_product_id="prod_1", prices=(archived, yearly)
    )
    async with uow_factory() as uow:
        await uow.plans.update(changed)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.plans.get(p.id) == changed
        assert await uow.plans.price_by_provider_id(yearly.stripe_price_id or "") == yearly
        assert p.id not in {x.id for x in await uow.plans.list(active_only=True)}
        assert p.id in {x.id for x in await uow.plans.list(active_only=False)}


async def test_plan_codes_are_unique_and_a_failed_add_leaves_nothing(uow_factory: UnitOfWorkFactory) -> None:
    p = plan()
    async with uow_factory() as uow:
        await uow.plans.add(p)
        await uow.commit()
    twin = plan(code=p.code)
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.plans.add(twin)
    async with uow_factory(read_only=True) as uow:
        assert await uow.plans.get(twin.id) is None
        assert await uow.plans.price_by_provider_id("never") is None


async def test_customers_link_once_per_tenant_and_customer(uow_factory: UnitOfWorkFactory) -> None:
    tenant_id, other = await a_tenant(uow_factory), await a_tenant(uow_factory)
    cus = BillingCustomer(tenant_id=tenant_id, customer_id=unique("cus"), created_at=T0)
    async with uow_factory() as uow:
        assert await uow.subscriptions.add_customer(cus)
        assert not await uow.subscriptions.add_customer(msgspec.structs.replace(cus, customer_id=unique("cus")))
        assert not await uow.subscriptions.add_customer(msgspec.structs.replace(cus, tenant_id=other))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.subscriptions.customer(tenant_id) == cus
        assert await uow.subscriptions.customer(other) is None
        assert await uow.subscriptions.tenant_of_customer(cus.customer_id) == tenant_id


async def test_subscriptions_upsert_by_id(uow_factory: UnitOfWorkFactory) -> None:
    tenant_id = await a_tenant(uow_factory)
    sub = subscription(tenant_id)
    later = msgspec.structs.replace(
        sub, status=SubscriptionStatus.CANCELED, ended_at=T0 + timedelta(days=3), as_of=T0 + timedelta(days=3)
    )
    async with uow_factory() as uow:
        await uow.subscriptions.put(sub)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.subscriptions.get(sub.id) == sub
        await uow.subscriptions.put(later)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.subscriptions.for_tenant(tenant_id) == [later]


async def test_recurring_revenue_counts_active_and_past_due_with_yearly_as_is(uow_factory: UnitOfWorkFactory) -> None:
    tenant_id = await a_tenant(uow_factory)
    async with uow_factory(read_only=True) as uow:
        before = {c: (y, n) for c, y, n in await uow.subscriptions.recurring_by_currency()}
        counts_before = await uow.subscriptions.count_by_plan_and_status()
    plan_id = new_id()
    subs = [
        subscription(tenant_id, amount=1000, plan_id=plan_id),
        subscription(
            tenant_id, amount=12000, interval=Interval.YEAR, status=SubscriptionStatus.PAST_DUE, plan_id=plan_id
        ),
        subscription(tenant_id, amount=5000, status=SubscriptionStatus.TRIALING, plan_id=plan_id),
        subscription(tenant_id, amount=7000, status=SubscriptionStatus.CANCELED, plan_id=plan_id),
        subscription(tenant_id, amount=300, currency="JPY", plan_id=plan_id),
    ]
    async with uow_factory() as uow:
        for sub in subs:
            await uow.subscriptions.put(sub)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        after = {c: (y, n) for c, y, n in await uow.subscriptions.recurring_by_currency()}
        counts = await uow.subscriptions.count_by_plan_and_status()
    eur0, jpy0 = before.get("EUR", (0, 0)), before.get("JPY", (0, 0))
    assert after["EUR"] == (eur0[0] + 12000 + 12000, eur0[1] + 2)
    assert after["JPY"] == (jpy0[0] + 3600, jpy0[1] + 1)
    mine = sorted((s, n) for p, s, n in counts if p == plan_id)
    assert mine == [("active", 2), ("canceled", 1), ("past_due", 1), ("trialing", 1)]
    assert not any(p == plan_id for p, _, _ in counts_before)


async def test_churn_counts_subscriptions_live_at_the_start_that_ended_in_the_period(
    uow_factory: UnitOfWorkFactory,
) -> None:
    tenant_id = await a_tenant(uow_factory)
    start = datetime(random.randint(1900, 1990), 1, 1, tzinfo=UTC)  # a period no other test touches
    end = start + timedelta(days=30)
    day = timedelta(days=1)
    subs = [
        subscription(tenant_id, started_at=start - day),  # live, stays
        subscription(tenant_id, started_at=start - day, ended_at=start + day, status=SubscriptionStatus.CANCELED),
        subscription(tenant_id, started_at=start - day, ended_at=start - day, status=SubscriptionStatus.CANCELED),
        subscription(tenant_id, started_at=start + day),  # not live at the start
        subscription(tenant_id, started_at=start - day, status=SubscriptionStatus.INCOMPLETE_EXPIRED),
        subscription(tenant_id, started_at=start - day, ended_at=end + day, status=SubscriptionStatus.CANCELED),
    ]
    async with uow_factory(read_only=True) as uow:
        live0, churned0 = await uow.subscriptions.churn(start, end)
    async with uow_factory() as uow:
        for sub in subs:
            await uow.subscriptions.put(sub)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        live, churned = await uow.subscriptions.churn(start, end)
    assert (live - live0, churned - churned0) == (3, 1)


async def test_invoices_filter_page_and_sum_revenue_by_month(uow_factory: UnitOfWorkFactory) -> None:
    tenant_id = await a_tenant(uow_factory)
    year = random.randint(1900, 1990)
    jan, feb = datetime(year, 1, 10, tzinfo=UTC), datetime(year, 2, 10, tzinfo=UTC)
    items = [
        invoice(tenant_id, created_at=jan, paid_at=jan, amount_paid=100),
        invoice(tenant_id, created_at=jan + timedelta(hours=1), paid_at=feb, amount_paid=200),
        invoice(tenant_id, created_at=feb, paid_at=feb, amount_paid=300, currency="USD"),
        invoice(tenant_id, created_at=feb + timedelta(hours=1), status="open", paid_at=None, amount_paid=0),
    ]
    async with uow_factory() as uow:
        for i in items:
            await uow.invoices.put(i)
        await uow.invoices.put(msgspec.structs.replace(items[0], as_of=T0 + timedelta(days=1)))  # upsert
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.invoices.get(items[0].id) == msgspec.structs.replace(items[0], as_of=T0 + timedelta(days=1))
        revenue = await uow.invoices.revenue(datetime(year, 1, 1, tzinfo=UTC), datetime(year, 3, 1, tzinfo=UTC))
        everything, total = await uow.invoices.list(InvoiceFilter(tenant_id=tenant_id), PageRequest(10, 0))
        paid, paid_total = await uow.invoices.list(InvoiceFilter(tenant_id=tenant_id, status="paid"), PageRequest(1, 1))
        usd, _ = await uow.invoices.list(InvoiceFilter(tenant_id=tenant_id, currency="USD"), PageRequest(10, 0))
        jan_only, _ = await uow.invoices.list(
            InvoiceFilter(tenant_id=tenant_id, since=jan, until=jan + timedelta(days=1)), PageRequest(10, 0)
        )
    month = f"{year:04d}"
    assert revenue == [(f"{month}-01", "EUR", 100, 1), (f"{month}-02", "EUR", 200, 1), (f"{month}-02", "USD", 300, 1)]
    assert total == 4
    assert [i.id for i in everything] == [items[3].id, items[2].id, items[1].id, items[0].id]
    assert paid_total == 3
    assert [i.id for i in paid] == [items[1].id]
    assert [i.id for i in usd] == [items[2].id]
    assert {i.id for i in jan_only} == {items[0].id, items[1].id}


def stored_event(**changes: Any) -> StoredEvent:
    values: dict[str, Any] = {
        "id": unique("evt"),
        "type": "invoice.paid",
        "created": T0,
        "payload": b'{"raw": "\\u00e9"}\x00\xff',
        "received_at": T0,
        "next_attempt_at": T0 + timedelta(seconds=30),
    }
    values.update(changes)
    return StoredEvent(**values)


async def test_events_are_stored_once_claimed_once_and_retried_when_due(uow_factory: UnitOfWorkFactory) -> None:
    event = stored_event()
    async with uow_factory() as uow:
        assert await uow.billing_events.add(event)
        assert not await uow.billing_events.add(msgspec.structs.replace(event, type="other"))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.billing_events.get(event.id) == event
        assert event.id not in await uow.billing_events.due(T0, 1000)
        assert event.id in await uow.billing_events.due(T0 + timedelta(seconds=30), 100_000)

    async with uow_factory() as uow:
        await uow.billing_events.record_failure(event.id, "boom", T0 + timedelta(minutes=5))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        failed = await uow.billing_events.get(event.id)
        assert failed is not None
        assert (failed.attempts, failed.last_error, failed.next_attempt_at) == (1, "boom", T0 + timedelta(minutes=5))

    async with uow_factory() as uow:
        assert await uow.billing_events.mark_processed(event.id, T0 + timedelta(minutes=6))
        assert not await uow.billing_events.mark_processed(event.id, T0 + timedelta(minutes=7))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert event.id not in await uow.billing_events.due(T0 + timedelta(days=365), 100_000)


async def test_a_rolled_back_claim_leaves_the_event_unprocessed(uow_factory: UnitOfWorkFactory) -> None:
    event = stored_event()
    async with uow_factory() as uow:
        await uow.billing_events.add(event)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.billing_events.mark_processed(event.id, T0)
        # no commit: the processing failed
    async with uow_factory(read_only=True) as uow:
        got = await uow.billing_events.get(event.id)
    assert got is not None
    assert got.processed_at is None


async def test_concurrent_claims_apply_an_event_once(uow_factory: UnitOfWorkFactory) -> None:
    event = stored_event()
    async with uow_factory() as uow:
        await uow.billing_events.add(event)
        await uow.commit()

    async def claim() -> bool:
        async with uow_factory() as uow:
            won = await uow.billing_events.mark_processed(event.id, T0)
            await asyncio.sleep(0.01)
            await uow.commit()
            return won

    assert sorted(await asyncio.gather(*(claim() for _ in range(4)))) == [False, False, False, True]
