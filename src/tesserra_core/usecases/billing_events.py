"""Provider webhooks: verified, stored by id, processed exactly once, retried until they succeed.

- A bad or stale signature is refused before anything is stored.
- Every event is stored by its id first; a redelivery finds it and changes nothing.
- Processing claims the event (``mark_processed``) in the same transaction that applies it, so two
  workers (or the webhook and the retry loop) can never both apply it.
- Out of order: a subscription or invoice remembers the time (``created``) of the event that last set
  it; an older event never overwrites it, and a canceled subscription is never revived.
- A failure rolls the work back, records the error and schedules a retry with exponential backoff;
  the retry loop (``runners.billing_retries``) runs in every server's lifespan, so no stored event is ever lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from tesserra_core.domain.billing import (
    BillingCustomer,
    CheckoutSnapshot,
    GatewayEvent,
    Invoice,
    InvoiceSnapshot,
    StoredEvent,
    Subscription,
    SubscriptionSnapshot,
)
from tesserra_core.domain.structs import by_name
from tesserra_core.ports import Ports
from tesserra_core.ports.billing import PaymentGateway
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.credentials import Revoker
from tesserra_core.usecases.entitlements import billing_tag

log = logging.getLogger("tesserra.billing")

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
    }
)
"""``invoice.payment_succeeded`` is what older API versions (and localstripe) send for ``invoice.paid``."""

MAX_BACKOFF = timedelta(hours=1)
RECEIVE_GRACE = timedelta(seconds=30)


class WebhookAck(msgspec.Struct, frozen=True):
    received: bool
    duplicate: bool
    processed: bool


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... at most an hour."""
    return min(timedelta(seconds=5 * 2 ** min(attempts - 1, 20)), MAX_BACKOFF)


class UnknownCustomer(Exception):
    """The event names a customer no tenant is linked to (yet): retried later."""


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    uow: UnitOfWorkFactory
    gateway: PaymentGateway
    clock: Clock
    revoker: Revoker

    async def __call__(self, event_id: str) -> bool:
        """True if this call applied the event; False if it was done already or failed (then recorded)."""
        try:
            return await self._process(event_id)
        except Exception as exc:
            log.warning("billing event %s failed: %s", event_id, exc)
            await self._record_failure(event_id, f"{type(exc).__name__}: {exc}"[:1000])
            return False

    async def _process(self, event_id: str) -> bool:
        async with self.uow(read_only=True) as uow:
            stored = await uow.billing_events.get(event_id)
        if stored is None or stored.processed_at is not None:
            return False
        event = self.gateway.decode_event(stored.payload)
        async with self.uow() as uow:
            if not await uow.billing_events.mark_processed(event_id, self.clock.now()):
                return False
            tenants = await self._apply(uow, event)
            for tenant_id in tenants:
                await self.revoker.publish(uow, billing_tag(tenant_id))
            await uow.commit()
        self.revoker.evict(*(billing_tag(t) for t in tenants))
        return True

    async def _record_failure(self, event_id: str, error: str) -> None:
        async with self.uow() as uow:
            stored = await uow.billing_events.get(event_id)
            if stored is None or stored.processed_at is not None:
                return
            retry_at = self.clock.now() + backoff(stored.attempts + 1)
            await uow.billing_events.record_failure(event_id, error, retry_at)
            await uow.commit()

    async def _apply(self, uow: UnitOfWork, event: GatewayEvent) -> set[str]:
        if event.checkout is not None:
            return await self._checkout(uow, event.checkout, event.created)
        if event.subscription is not None:
            return await self._subscription(uow, event.subscription, event.created)
        if event.invoice is not None:
            return await self._invoice(uow, event.invoice, event.created)
        return set()  # a type we do not act on: stored, marked processed, nothing else

    async def _tenant(self, uow: UnitOfWork, customer_id: str, hinted: str | None) -> str:
        tenant_id = await uow.subscriptions.tenant_of_customer(customer_id)
        if tenant_id is not None:
            return tenant_id
        if hinted is not None and await uow.tenants.get(hinted) is not None:
            await uow.subscriptions.add_customer(
                BillingCustomer(tenant_id=hinted, customer_id=customer_id, created_at=self.clock.now())
            )
            return hinted
        raise UnknownCustomer(f"no tenant is linked to customer {customer_id}")

    async def _checkout(self, uow: UnitOfWork, c: CheckoutSnapshot, at: datetime) -> set[str]:
        if c.customer_id is None:
            return set()
        return {await self._tenant(uow, c.customer_id, c.tenant_id)}

    async def _subscription(self, uow: UnitOfWork, s: SubscriptionSnapshot, at: datetime) -> set[str]:
        tenant_id = await self._tenant(uow, s.customer_id, s.tenant_id)
        existing = await uow.subscriptions.get(s.id)
        if existing is not None and (existing.status.final or existing.as_of > at):
            return set()  # an older event, or one about a subscription that already ended
        plan_id = s.plan_id
        if s.price_id is not None:
            price = await uow.plans.price_by_provider_id(s.price_id)
            if price is not None:
                plan_id = price.plan_id
        await uow.subscriptions.put(
            by_name(
                Subscription,
                s,
                tenant_id=tenant_id,
                plan_id=plan_id,
                started_at=existing.started_at if existing is not None else s.started_at,
                ended_at=s.ended_at if s.status.final else None,
                as_of=at,
                updated_at=self.clock.now(),
            )
        )
        return {tenant_id}

    async def _invoice(self, uow: UnitOfWork, i: InvoiceSnapshot, at: datetime) -> set[str]:
        tenant_id = await self._tenant(uow, i.customer_id, None)
        existing = await uow.invoices.get(i.id)
        if existing is not None and (existing.as_of > at or (existing.status == "paid" and i.status != "paid")):
            return set()
        await uow.invoices.put(by_name(Invoice, i, tenant_id=tenant_id, as_of=at))
        return set()  # invoices do not change entitlements; subscription events do


@dataclass(frozen=True, slots=True)
class ReceiveWebhook:
    """A Stripe event, verified by its signature (HMAC over the raw body, 5-minute tolerance): a bad or stale
    signature is refused and changes nothing. Each event is stored by id and processed once; a redelivery
    answers ``duplicate: true``. A processing failure is retried in the background with backoff (the event is
    acknowledged all the same: it is safely stored)."""

    uow: UnitOfWorkFactory
    gateway: PaymentGateway
    clock: Clock
    process: ProcessEvent

    async def __call__(self, payload: bytes, signature: str | None) -> WebhookAck:
        event = self.gateway.parse_event(payload, signature)  # ValidationFailed (400): nothing stored
        now = self.clock.now()
        stored = StoredEvent(
            id=event.id,
            type=event.type,
            created=event.created,
            payload=payload,
            received_at=now,
            next_attempt_at=now + RECEIVE_GRACE,  # the retry loop leaves it to this request until then
        )
        async with self.uow() as uow:
            added = await uow.billing_events.add(stored)
            await uow.commit()
        if not added:
            return WebhookAck(received=True, duplicate=True, processed=False)
        processed = await self.process(event.id)
        return WebhookAck(received=True, duplicate=False, processed=processed)


@dataclass(frozen=True, slots=True)
class BillingEvents:
    """POST /api/webhooks/stripe, and each event's processing (retried by the billing-retries runner)."""

    process: ProcessEvent
    receive_webhook: ReceiveWebhook


def billing_events(p: Ports, *, revoker: Revoker) -> BillingEvents:
    process = ProcessEvent(p.uow, p.gateway, p.clock, revoker)
    return BillingEvents(process=process, receive_webhook=ReceiveWebhook(p.uow, p.gateway, p.clock, process))
