"""The Stripe adapter for real against localstripe, with its signed webhooks delivered to the
running server: product and (legacy) price sync, customer, a paid subscription, cancellation at
period end, deletion, and the tenant's entitlements following each step."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesserra_core.domain.billing import BillingCustomer, Interval
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.ports.billing import InvoiceFilter
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice
from tesserra_core.usecases.sessions import Credentials
from tesserra_core.usecases.tenants import NewTenant
from tests import support
from tests.localstripe_support import localstripe
from tests.support import LiveServer, live_server

pytestmark = pytest.mark.localstripe

API_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_localstripe_test"
PRO = PlanLimits(projects=40, domains=9)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[LiveServer, str]]:
    async with localstripe() as stripe_url, support.database_url(request.param, tmp_path) as url:
        settings = support.test_settings(
            tmp_path,
            url,
            stripe_api_key=API_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=stripe_url,
            stripe_prices_api="plans",
        )
        async with live_server(settings) as server:
            async with httpx.AsyncClient() as client:
                hook = await client.post(
                    f"{stripe_url}/_config/webhooks/tesserra",
                    data={"url": f"{server.url}/api/webhooks/stripe", "secret": WEBHOOK_SECRET},
                )
                assert hook.status_code == 200, hook.text
            yield server, stripe_url


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the state never converged")


async def test_subscription_lifecycle_through_localstripe_webhooks(stack: tuple[LiveServer, str]) -> None:
    server, stripe_url = stack
    uc = server.uc
    assert await uc.operators.ensure_first_owner("root@tesserra.test", "root-password-1")
    admin = await uc.authenticate(
        (await uc.sessions.login(Credentials(email="root@tesserra.test", password="root-password-1"))).access_token
    )
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    tenant = await uc.tenants.create(
        admin, NewTenant(name="Padaria", owner_email=email, owner_password="correct horse 1")
    )
    pair = await uc.sessions.login(Credentials(email=email, password="correct horse 1"))
    bearer = {"Authorization": f"Bearer {pair.access_token}"}

    plan = await uc.plans.create(
        admin, NewPlan(code="pro", name="Pro", limits=PRO, prices=[NewPrice("EUR", Interval.MONTH, 2900)])
    )
    plan = await uc.plans.sync(admin, plan.id)  # the real adapter: a product and a legacy plan in localstripe
    legacy_plan_id = plan.prices[0].stripe_price_id
    assert plan.stripe_product_id is not None
    assert legacy_plan_id is not None

    stripe_headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        httpx.AsyncClient(base_url=stripe_url, headers=stripe_headers) as ls,
        httpx.AsyncClient(base_url=server.url, headers=bearer) as api,
    ):
        remote_plan = (await ls.get(f"/v1/plans/{legacy_plan_id}")).json()
        assert (remote_plan["amount"], remote_plan["currency"], remote_plan["interval"]) == (2900, "eur", "month")
        assert remote_plan["product"] == plan.stripe_product_id

        # What Checkout does for the customer: a customer (created by the adapter), a card, a subscription.
        customer_id = await uc.ports.gateway.create_customer(tenant.id, "Padaria", email, idempotency_key="cus-1")
        async with uc.ports.uow() as uow:
            await uow.subscriptions.add_customer(
                BillingCustomer(tenant_id=tenant.id, customer_id=customer_id, created_at=uc.ports.clock.now())
            )
            await uow.commit()
        assert (await ls.get(f"/v1/customers/{customer_id}")).json()["metadata"] == {"tenant_id": tenant.id}
        card = {
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        }
        pm = (await ls.post("/v1/payment_methods", data=card)).json()["id"]
        assert (await ls.post(f"/v1/payment_methods/{pm}/attach", data={"customer": customer_id})).status_code == 200
        await ls.post(f"/v1/customers/{customer_id}", data={"invoice_settings[default_payment_method]": pm})
        sub = (
            await ls.post(
                "/v1/subscriptions",
                data={"customer": customer_id, "items[0][plan]": legacy_plan_id, "metadata[tenant_id]": tenant.id},
            )
        ).json()
        assert sub["status"] == "active", sub

        async def active() -> bool:
            body: dict[str, Any] = (await api.get("/api/assinatura")).json()
            return body.get("status") == "active"

        await eventually(active)
        view = (await api.get("/api/assinatura")).json()
        assert (view["plan"], view["subscribed"], view["subscription_id"]) == ("pro", True, sub["id"])
        assert (view["currency"], view["amount"], view["interval"]) == ("EUR", 2900, "month")
        entitlement = await uc.ports.entitlements.of(tenant.id)
        assert (entitlement.plan, entitlement.limits) == ("pro", PRO)

        async def invoiced() -> bool:
            async with uc.ports.uow(read_only=True) as uow:
                return any(
                    i.status == "paid"
                    for i in (await uow.invoices.list(InvoiceFilter(tenant_id=tenant.id), PageRequest()))[0]
                )

        await eventually(invoiced)

        cancelled = await api.post("/api/assinatura/cancelar")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancel_at_period_end"] is True
        assert cancelled.json()["subscribed"] is True  # until the period ends
        assert (await ls.get(f"/v1/subscriptions/{sub['id']}")).json()["cancel_at_period_end"] is True

        assert (await ls.delete(f"/v1/subscriptions/{sub['id']}")).status_code == 200

        async def ended() -> bool:
            status: object = (await api.get("/api/assinatura")).json().get("status")
            return status == "canceled"

        await eventually(ended)
        assert not (await uc.ports.entitlements.of(tenant.id)).subscribed

    async with uc.ports.uow(read_only=True) as uow:
        due = await uow.billing_events.due(uc.ports.clock.now() + timedelta(days=1), 100)
    assert due == []  # every delivered event was processed
