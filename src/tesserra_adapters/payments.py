"""Choosing the payment gateway: Stripe when a key is configured, otherwise a disabled one.

Without ``TESSERRA_STRIPE_API_KEY`` the server runs as usual: plans, subscriptions and the 402
rule work from the database (every tenant on the free plan until a subscription is recorded), and
the endpoints that must reach Stripe answer 503 naming the missing setting. Webhooks still verify
when ``TESSERRA_STRIPE_WEBHOOK_SECRET`` is set (a Stripe account may deliver to a server whose key
is being rotated).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from tesserra_adapters import stripe_events
from tesserra_adapters.settings import Settings
from tesserra_core.domain.billing import GatewayEvent, Plan, SubscriptionSnapshot
from tesserra_core.errors import Unavailable
from tesserra_core.ports.billing import CheckoutRequest, CheckoutSession, PaymentGateway, SyncedPlan


class DisabledGateway:
    def __init__(self, webhook_secret: str | None = None) -> None:
        self._webhook_secret = webhook_secret

    @staticmethod
    def _unavailable() -> NoReturn:
        raise Unavailable(
            "billing is not configured on this server: set TESSERRA_STRIPE_API_KEY", code="billing_unavailable"
        )

    async def create_customer(self, tenant_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        self._unavailable()

    async def sync_plan(self, plan: Plan) -> SyncedPlan:
        self._unavailable()

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        self._unavailable()

    async def cancel_at_period_end(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionSnapshot:
        self._unavailable()

    async def portal_url(self, customer_id: str) -> str:
        self._unavailable()

    def parse_event(self, payload: bytes, signature: str | None) -> GatewayEvent:
        stripe_events.verify(payload, signature, self._webhook_secret)
        return stripe_events.envelope(payload)

    def decode_event(self, payload: bytes) -> GatewayEvent:
        return stripe_events.decode(payload)


@asynccontextmanager
async def payment_gateway(settings: Settings) -> AsyncIterator[PaymentGateway]:
    """The configured gateway; Stripe's HTTP client is closed at shutdown."""
    if not settings.stripe_api_key:
        yield DisabledGateway(settings.stripe_webhook_secret)
        return
    from tesserra_adapters.stripe_gateway import StripeGateway

    gateway = StripeGateway(
        settings.stripe_api_key,
        settings.stripe_webhook_secret,
        success_url=settings.stripe_success_url,
        cancel_url=settings.stripe_cancel_url,
        return_url=settings.stripe_return_url,
        api_base=settings.stripe_api_base,
        prices_api=settings.stripe_prices_api,
        tolerance=settings.stripe_webhook_tolerance,
    )
    try:
        yield gateway
    finally:
        await gateway.aclose()
