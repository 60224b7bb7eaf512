"""The Stripe adapter against a recording server, for the calls localstripe lacks: the real stripe
SDK sends them, and the test checks the exact requests (paths, form fields, Idempotency-Key) and
the parsing of realistic answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tesserra_adapters.stripe_gateway import StripeGateway
from tesserra_core.domain.billing import Interval, Plan, Price, SubscriptionStatus
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import NotFound, Unavailable, ValidationFailed
from tesserra_core.ports.billing import CheckoutRequest
from tests import stripe_support as s
from tests.stripe_recorder import StripeRecorder, stripe_recorder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "whsec_recorded"


@pytest.fixture
async def recorder() -> AsyncIterator[StripeRecorder]:
    async with stripe_recorder() as r:
        yield r


@pytest.fixture
def gateway(recorder: StripeRecorder) -> StripeGateway:
    return StripeGateway(
        "sk_test_recorded",
        SECRET,
        success_url="https://app.example/ok",
        cancel_url="https://app.example/cancel",
        return_url="https://app.example/billing",
        api_base=recorder.url,
        max_network_retries=0,
    )


def price(
    pid: str, currency: str, interval: Interval, amount: int, *, active: bool = True, stripe_id: str | None = None
) -> Price:
    return Price(
        id=pid,
        plan_id="plan1",
        currency=currency,
        interval=interval,
        amount=amount,
        active=active,
        stripe_price_id=stripe_id,
        created_at=T0,
    )


def plan(*prices: Price, product: str | None = None) -> Plan:
    return Plan(
        id="plan1",
        code="pro",
        name="Pro",
        description="For teams",
        limits=PlanLimits(),
        active=True,
        stripe_product_id=product,
        created_at=T0,
        updated_at=T0,
        prices=prices,
    )


async def test_sync_creates_the_product_and_prices_with_idempotency_keys(
    gateway: StripeGateway, recorder: StripeRecorder
) -> None:
    synced = await gateway.sync_plan(
        plan(price("p_eur", "EUR", Interval.MONTH, 1900), price("p_usd", "USD", Interval.YEAR, 19900))
    )
    (product,) = recorder.calls("POST", "/v1/products")
    assert product.form == {
        "name": "Pro",
        "active": "true",
        "description": "For teams",
        "metadata[plan_id]": "plan1",
        "metadata[plan_code]": "pro",
    }
    assert product.headers["idempotency-key"] == "tesserra-product-plan1"
    assert product.headers["authorization"] == "Bearer sk_test_recorded"
    prices = recorder.calls("POST", "/v1/prices")
    assert [p.form for p in prices] == [
        {
            "product": synced.product_id,
            "currency": "eur",
            "unit_amount": "1900",
            "recurring[interval]": "month",
            "metadata[plan_id]": "plan1",
            "metadata[price_id]": "p_eur",
        },
        {
            "product": synced.product_id,
            "currency": "usd",
            "unit_amount": "19900",
            "recurring[interval]": "year",
            "metadata[plan_id]": "plan1",
            "metadata[price_id]": "p_usd",
        },
    ]
    assert [p.headers["idempotency-key"] for p in prices] == ["tesserra-price-p_eur", "tesserra-price-p_usd"]
    assert synced.product_id.startswith("prod_")
    assert set(synced.prices) == {"p_eur", "p_usd"}
    assert all(v.startswith("price_") for v in synced.prices.values())


async def test_resync_updates_the_product_and_deactivates_archived_prices(
    gateway: StripeGateway, recorder: StripeRecorder
) -> None:
    synced = await gateway.sync_plan(
        plan(
            price("p_old", "EUR", Interval.MONTH, 1900, active=False, stripe_id="price_old"),
            price("p_kept", "USD", Interval.MONTH, 2100, stripe_id="price_kept"),
            price("p_new", "EUR", Interval.MONTH, 2500),
            product="prod_existing",
        )
    )
    assert recorder.calls("POST", "/v1/products") == []
    (update,) = recorder.calls("POST", "/v1/products/prod_existing")
    assert update.form["name"] == "Pro"
    (deactivate,) = recorder.calls("POST", "/v1/prices/price_old")
    assert deactivate.form == {"active": "false"}
    (created,) = recorder.calls("POST", "/v1/prices")
    assert created.form["metadata[price_id]"] == "p_new"
    assert synced.prices["p_kept"] == "price_kept"
    assert synced.prices["p_old"] == "price_old"


async def test_checkout_session_request_and_answer(gateway: StripeGateway, recorder: StripeRecorder) -> None:
    request = CheckoutRequest(
        customer_id="cus_123",
        price_id="price_456",
        tenant_id="t1",
        plan_id="plan1",
        idempotency_key="tesserra-checkout-abc",
    )
    session = await gateway.create_checkout(request)
    again = await gateway.create_checkout(request)
    calls = recorder.calls("POST", "/v1/checkout/sessions")
    assert [c.headers["idempotency-key"] for c in calls] == ["tesserra-checkout-abc"] * 2
    assert calls[0].form == {
        "mode": "subscription",
        "customer": "cus_123",
        "line_items[0][price]": "price_456",
        "line_items[0][quantity]": "1",
        "success_url": "https://app.example/ok",
        "cancel_url": "https://app.example/cancel",
        "client_reference_id": "t1",
        "metadata[tenant_id]": "t1",
        "metadata[plan_id]": "plan1",
        "subscription_data[metadata][tenant_id]": "t1",
        "subscription_data[metadata][plan_id]": "plan1",
    }
    assert session == again
    assert session.id.startswith("cs_")
    assert session.url.startswith("https://checkout.stripe.com/c/pay/cs_")


async def test_customer_portal_and_cancellation(gateway: StripeGateway, recorder: StripeRecorder) -> None:
    customer = await gateway.create_customer("t1", "Acme", "owner@acme.test", idempotency_key="tesserra-customer-x")
    (call,) = recorder.calls("POST", "/v1/customers")
    assert call.form == {"name": "Acme", "metadata[tenant_id]": "t1", "email": "owner@acme.test"}
    assert call.headers["idempotency-key"] == "tesserra-customer-x"

    assert (await gateway.portal_url(customer)).startswith("https://billing.stripe.com/")
    (portal,) = recorder.calls("POST", "/v1/billing_portal/sessions")
    assert portal.form == {"customer": customer, "return_url": "https://app.example/billing"}

    recorder.subscriptions["sub_1"] = s.subscription("sub_1", customer, "price_456", amount=2500, interval="year")
    snapshot = await gateway.cancel_at_period_end("sub_1", idempotency_key="tesserra-cancel-1")
    (cancel,) = recorder.calls("POST", "/v1/subscriptions/sub_1")
    assert cancel.form == {"cancel_at_period_end": "true"}
    assert cancel.headers["idempotency-key"] == "tesserra-cancel-1"
    assert snapshot.cancel_at_period_end
    assert (snapshot.status, snapshot.amount, snapshot.interval, snapshot.currency) == (
        SubscriptionStatus.ACTIVE,
        2500,
        Interval.YEAR,
        "EUR",
    )
    with pytest.raises(NotFound):
        await gateway.cancel_at_period_end("sub_missing", idempotency_key="k")


async def test_an_unreachable_stripe_is_503() -> None:
    from tests.support import free_port

    gateway = StripeGateway(
        "sk_test_x",
        None,
        success_url="https://a/ok",
        cancel_url="https://a/no",
        return_url="https://a/",
        api_base=f"http://127.0.0.1:{free_port()}",
        max_network_retries=0,
    )
    with pytest.raises(Unavailable):
        await gateway.create_customer("t1", "Acme", None, idempotency_key="k")


@pytest.mark.parametrize("case", ["valid", "wrong_secret", "stale", "tampered", "future", "no_v1"])
def test_signature_verification_uses_stripes_scheme(gateway: StripeGateway, case: str) -> None:
    payload = s.event("invoice.paid", s.invoice("in_1", "cus_1", "sub_1"), s.__dict__.get("NOW", 1_760_000_000))
    import time

    now = int(time.time())
    header = {
        "valid": s.sign(payload, SECRET, now),
        "wrong_secret": s.sign(payload, "whsec_other", now),
        "stale": s.sign(payload, SECRET, now - 301),
        "tampered": s.sign(payload, SECRET, now),
        "future": s.sign(payload, SECRET, now + 3600),
        "no_v1": f"t={now},v0=abc",
    }[case]
    body = payload.replace(b'"amount_due": 1900', b'"amount_due": 1') if case == "tampered" else payload
    if case == "valid":
        event = gateway.parse_event(body, header)
        assert (event.type, event.invoice) == ("invoice.paid", None)  # the object is read when processed
        event = gateway.decode_event(body)
        assert event.invoice is not None
        assert event.invoice.amount_paid == 1900
        return
    with pytest.raises(ValidationFailed):
        gateway.parse_event(body, header)
