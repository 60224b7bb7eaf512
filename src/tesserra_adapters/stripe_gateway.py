"""The payment gateway over Stripe (the official ``stripe`` SDK, async calls over httpx).

``prices_api="plans"`` syncs prices as legacy Plans, for Stripe-compatible servers without the
Prices API (localstripe); a legacy plan's id is accepted wherever Stripe takes a price id.
Every Stripe error becomes a core error: connection, auth, rate-limit and server failures are
``Unavailable`` (503), a refused request is ``Unprocessable`` (422), a missing object ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import stripe

from tesserra_adapters import stripe_events
from tesserra_core.domain.billing import GatewayEvent, Plan, SubscriptionSnapshot
from tesserra_core.errors import NotFound, Unavailable, Unprocessable
from tesserra_core.ports.billing import CheckoutRequest, CheckoutSession, SyncedPlan

T = TypeVar("T")


def _translate(exc: stripe.StripeError) -> Exception:
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.http_status == 404:
            return NotFound(f"Stripe has no such object: {exc.user_message or exc}", code="stripe_not_found")
        return Unprocessable(f"Stripe refused the request: {exc.user_message or exc}", code="stripe_refused")
    if isinstance(exc, stripe.AuthenticationError):
        return Unavailable("Stripe rejected the configured API key", code="stripe_unavailable")
    if isinstance(exc, stripe.RateLimitError):
        return Unavailable("Stripe is rate limiting requests; retry later", code="stripe_unavailable", retry_after=2)
    return Unavailable("Stripe is unavailable; retry later", code="stripe_unavailable")


async def _call(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except stripe.StripeError as exc:
        raise _translate(exc) from exc


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        webhook_secret: str | None,
        *,
        success_url: str,
        cancel_url: str,
        return_url: str,
        api_base: str | None = None,
        prices_api: str = "prices",
        tolerance: int = stripe_events.DEFAULT_TOLERANCE,
        max_network_retries: int = 2,
        timeout: float = 20.0,
    ) -> None:
        if prices_api not in ("prices", "plans"):
            raise ValueError(f"TESSERRA_STRIPE_PRICES_API must be prices or plans, not {prices_api!r}")
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )
        self._v1 = self._client.v1
        self._webhook_secret = webhook_secret
        self._success_url = success_url
        self._cancel_url = cancel_url
        self._return_url = return_url
        self._prices_api = prices_api
        self._tolerance = tolerance

    async def create_customer(self, tenant_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        params: dict[str, Any] = {"name": name, "metadata": {"tenant_id": tenant_id}}
        if email:
            params["email"] = email
        customer = await _call(
            lambda: self._v1.customers.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return str(customer.id)

    async def sync_plan(self, plan: Plan) -> SyncedPlan:
        product: dict[str, Any] = {
            "name": plan.name,
            "active": plan.active,
            "metadata": {"plan_id": plan.id, "plan_code": plan.code},
        }
        if plan.description:
            product["description"] = plan.description
        if plan.stripe_product_id is None:
            created = await _call(
                lambda: self._v1.products.create_async(product, {"idempotency_key": f"tesserra-product-{plan.id}"})  # type: ignore[arg-type]
            )
            product_id = str(created.id)
        else:
            product_id = plan.stripe_product_id
            await _call(lambda: self._v1.products.update_async(product_id, product))  # type: ignore[arg-type]
        prices: dict[str, str] = {}
        for price in plan.prices:
            if price.active and price.stripe_price_id is None:
                prices[price.id] = await self._create_price(
                    product_id, plan, price.id, price.currency, price.amount, price.interval.value
                )
            elif price.stripe_price_id is not None:
                prices[price.id] = price.stripe_price_id
                if not price.active:
                    await self._deactivate_price(price.stripe_price_id)
        return SyncedPlan(product_id=product_id, prices=prices)

    async def _create_price(
        self, product_id: str, plan: Plan, price_id: str, currency: str, amount: int, interval: str
    ) -> str:
        metadata = {"plan_id": plan.id, "price_id": price_id}
        options: Any = {"idempotency_key": f"tesserra-price-{price_id}"}
        if self._prices_api == "plans":
            legacy: Any = {
                "product": product_id,
                "currency": currency.lower(),
                "amount": amount,
                "interval": interval,
                "metadata": metadata,
            }
            created: Any = await _call(lambda: self._v1.plans.create_async(legacy, options))
        else:
            params: Any = {
                "product": product_id,
                "currency": currency.lower(),
                "unit_amount": amount,
                "recurring": {"interval": interval},
                "metadata": metadata,
            }
            created = await _call(lambda: self._v1.prices.create_async(params, options))
        return str(created.id)

    async def _deactivate_price(self, stripe_price_id: str) -> None:
        inactive: Any = {"active": False}
        if self._prices_api == "plans":
            await _call(lambda: self._v1.plans.update_async(stripe_price_id, inactive))
        else:
            await _call(lambda: self._v1.prices.update_async(stripe_price_id, inactive))

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        metadata = {"tenant_id": request.tenant_id, "plan_id": request.plan_id}
        params: Any = {
            "mode": "subscription",
            "customer": request.customer_id,
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "success_url": self._success_url,
            "cancel_url": self._cancel_url,
            "client_reference_id": request.tenant_id,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
        options: Any = {"idempotency_key": request.idempotency_key}
        session = await _call(lambda: self._v1.checkout.sessions.create_async(params, options))
        if not session.url:
            raise Unavailable("Stripe returned a checkout session without a URL", code="stripe_unavailable")
        return CheckoutSession(id=str(session.id), url=str(session.url))

    async def cancel_at_period_end(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionSnapshot:
        params: Any = {"cancel_at_period_end": True}
        options: Any = {"idempotency_key": idempotency_key}
        updated = await _call(lambda: self._v1.subscriptions.update_async(subscription_id, params, options))
        return stripe_events.subscription_from(updated.to_dict())

    async def portal_url(self, customer_id: str) -> str:
        params: Any = {"customer": customer_id, "return_url": self._return_url}
        session = await _call(lambda: self._v1.billing_portal.sessions.create_async(params))
        return str(session.url)

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    def parse_event(self, payload: bytes, signature: str | None) -> GatewayEvent:
        stripe_events.verify(payload, signature, self._webhook_secret, self._tolerance)
        return stripe_events.envelope(payload)

    def decode_event(self, payload: bytes) -> GatewayEvent:
        return stripe_events.decode(payload)
