"""PaymentGateway contract: the in-memory gateway, and the Stripe adapter against the recording
server (Prices, Checkout) and against localstripe (a Stripe-compatible server; legacy plans)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tesserra_adapters.memory.gateway import MemoryGateway
from tesserra_adapters.stripe_gateway import StripeGateway
from tesserra_core.domain.billing import Interval, Plan, Price
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import NotFound, ValidationFailed
from tesserra_core.ports.billing import CheckoutRequest, PaymentGateway
from tests import stripe_support as s
from tests.localstripe_support import localstripe
from tests.stripe_recorder import stripe_recorder

SECRET = "whsec_contract"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = ["memory", "recorded", pytest.param("localstripe", marks=pytest.mark.localstripe)]


def _stripe(url: str, prices_api: str = "prices") -> StripeGateway:
    return StripeGateway(
        "sk_test_contract",
        SECRET,
        success_url="https://a.example/ok",
        cancel_url="https://a.example/no",
        return_url="https://a.example/",
        api_base=url,
        prices_api=prices_api,
        max_network_retries=0,
    )


@pytest.fixture(params=KINDS)
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, PaymentGateway]]:
    kind = str(request.param)
    if kind == "memory":
        yield kind, MemoryGateway(webhook_secret=SECRET)
    elif kind == "recorded":
        async with stripe_recorder() as recorder:
            gw = _stripe(recorder.url)
            yield kind, gw
            await gw.aclose()
    else:
        async with localstripe() as url:
            gw = _stripe(url, prices_api="plans")
            yield kind, gw
            await gw.aclose()


def plan(*prices: Price, product: str | None = None) -> Plan:
    return Plan(
        id="plan1",
        code="pro",
        name="Pro",
        description="",
        limits=PlanLimits(),
        active=True,
        stripe_product_id=product,
        created_at=T0,
        updated_at=T0,
        prices=prices,
    )


def price(pid: str, currency: str = "EUR", *, active: bool = True, stripe_id: str | None = None) -> Price:
    return Price(
        id=pid,
        plan_id="plan1",
        currency=currency,
        interval=Interval.MONTH,
        amount=1900,
        active=active,
        stripe_price_id=stripe_id,
        created_at=T0,
    )


async def test_sync_gives_ids_to_active_prices_and_keeps_them(gateway: tuple[str, PaymentGateway]) -> None:
    _, gw = gateway
    first = await gw.sync_plan(plan(price(f"p{uuid.uuid4().hex[:8]}"), price(f"q{uuid.uuid4().hex[:8]}", "USD")))
    assert first.product_id
    assert len(set(first.prices.values())) == 2
    ids = list(first.prices)
    again = await gw.sync_plan(
        plan(
            price(ids[0], stripe_id=first.prices[ids[0]]),
            price(ids[1], "USD", active=False, stripe_id=first.prices[ids[1]]),
            product=first.product_id,
        )
    )
    assert again.product_id == first.product_id
    assert again.prices == first.prices


async def test_customers_and_checkout(gateway: tuple[str, PaymentGateway]) -> None:
    kind, gw = gateway
    customer = await gw.create_customer("t1", "Acme", "a@acme.test", idempotency_key=f"c-{uuid.uuid4().hex}")
    assert customer.startswith("cus_")
    if kind == "localstripe":
        return  # no Checkout Sessions there (see the recorded contract)
    synced = await gw.sync_plan(plan(price(f"p{uuid.uuid4().hex[:8]}")))
    request = CheckoutRequest(
        customer_id=customer,
        price_id=next(iter(synced.prices.values())),
        tenant_id="t1",
        plan_id="plan1",
        idempotency_key=f"k-{uuid.uuid4().hex}",
    )
    session = await gw.create_checkout(request)
    assert session.url.startswith("https://")
    assert await gw.create_checkout(request) == session  # the same idempotency key, the same session
    assert (await gw.portal_url(customer)).startswith("https://")


async def test_cancelling_an_unknown_subscription_is_not_found(gateway: tuple[str, PaymentGateway]) -> None:
    _, gw = gateway
    with pytest.raises(NotFound):
        await gw.cancel_at_period_end("sub_missing", idempotency_key=f"x-{uuid.uuid4().hex}")


async def test_webhook_signatures(gateway: tuple[str, PaymentGateway]) -> None:
    _, gw = gateway
    payload = s.event("invoice.paid", s.invoice("in_1", "cus_1", "sub_1"), int(time.time()))
    event = gw.parse_event(payload, s.sign(payload, SECRET))
    assert event.type == "invoice.paid"
    decoded = gw.decode_event(payload)
    assert decoded.invoice is not None
    assert decoded.invoice.currency == "EUR"
    for bad in (s.sign(payload, "whsec_no"), s.sign(payload, SECRET, int(time.time()) - 1000), None):
        with pytest.raises(ValidationFailed):
            gw.parse_event(payload, bad)
