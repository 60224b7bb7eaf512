"""A payment gateway in memory: a small stateful Stripe (customers, products, prices, checkout
sessions, subscriptions), idempotency keys honoured as Stripe honours them, and webhooks verified
with Stripe's own signature scheme (so tests sign events exactly as Stripe does)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tesserra_adapters import stripe_events
from tesserra_core.domain.billing import GatewayEvent, Plan, SubscriptionSnapshot
from tesserra_core.errors import NotFound
from tesserra_core.ports.billing import CheckoutRequest, CheckoutSession, SyncedPlan

MEMORY_WEBHOOK_SECRET = "whsec_memory_gateway"


@dataclass
class MemoryGateway:
    webhook_secret: str = MEMORY_WEBHOOK_SECRET
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, CheckoutRequest] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionSnapshot] = field(default_factory=dict)
    _replies: dict[str, Any] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _new(self, prefix: str) -> str:
        return f"{prefix}_mem{next(self._seq):06d}"

    def _once(self, key: str, make: Any) -> Any:
        if key not in self._replies:
            self._replies[key] = make()
        return self._replies[key]

    async def create_customer(self, tenant_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        def make() -> str:
            cid = self._new("cus")
            self.customers[cid] = {"tenant_id": tenant_id, "name": name, "email": email}
            return cid

        return str(self._once(idempotency_key, make))

    async def sync_plan(self, plan: Plan) -> SyncedPlan:
        product_id = plan.stripe_product_id or str(self._once(f"product-{plan.id}", lambda: self._new("prod")))
        self.products[product_id] = {"name": plan.name, "active": plan.active}
        synced: dict[str, str] = {}
        for price in plan.prices:
            pid = price.stripe_price_id or (
                str(self._once(f"price-{price.id}", lambda: self._new("price"))) if price.active else None
            )
            if pid is None:
                continue
            synced[price.id] = pid
            self.prices[pid] = {
                "product": product_id,
                "currency": price.currency,
                "amount": price.amount,
                "interval": price.interval.value,
                "active": price.active,
            }
        return SyncedPlan(product_id=product_id, prices=synced)

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        if request.customer_id not in self.customers:
            raise NotFound("no such customer", code="stripe_not_found")
        if request.price_id not in self.prices:
            raise NotFound("no such price", code="stripe_not_found")

        def make() -> CheckoutSession:
            sid = self._new("cs")
            self.sessions[sid] = request
            return CheckoutSession(id=sid, url=f"https://checkout.invalid/pay/{sid}")

        reply: CheckoutSession = self._once(request.idempotency_key, make)
        return reply

    async def cancel_at_period_end(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionSnapshot:
        current = self.subscriptions.get(subscription_id)
        if current is None:
            raise NotFound("no such subscription", code="stripe_not_found")
        updated = msgspec.structs.replace(current, cancel_at_period_end=True)
        self.subscriptions[subscription_id] = updated
        return updated

    async def portal_url(self, customer_id: str) -> str:
        if customer_id not in self.customers:
            raise NotFound("no such customer", code="stripe_not_found")
        return f"https://billing.invalid/portal/{customer_id}"

    def parse_event(self, payload: bytes, signature: str | None) -> GatewayEvent:
        stripe_events.verify(payload, signature, self.webhook_secret)
        return stripe_events.envelope(payload)

    def decode_event(self, payload: bytes) -> GatewayEvent:
        return stripe_events.decode(payload)
