"""Billing: the payment provider (Stripe, or a fake), and the repositories of plans, subscriptions,
invoices and received events."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec

from tesserra_core.domain.billing import (
    BillingCustomer,
    GatewayEvent,
    Invoice,
    Plan,
    Price,
    StoredEvent,
    Subscription,
    SubscriptionSnapshot,
)
from tesserra_core.domain.paging import PageRequest


class CheckoutRequest(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    price_id: str
    """The provider's price id."""
    tenant_id: str
    plan_id: str
    idempotency_key: str


class CheckoutSession(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str


class SyncedPlan(msgspec.Struct, frozen=True, kw_only=True):
    product_id: str
    prices: dict[str, str]
    """Our price id -> the provider's price id, for every price the provider now holds."""


class PaymentGateway(Protocol):
    """The payment provider. Errors come back as core errors (Unavailable, ValidationFailed, ...)."""

    async def create_customer(self, tenant_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        """A new customer for the tenant; its provider id."""
        ...

    async def sync_plan(self, plan: Plan) -> SyncedPlan:
        """Create or update the plan's product, create its unsynced active prices, deactivate archived ones."""
        ...

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    async def cancel_at_period_end(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionSnapshot: ...

    async def portal_url(self, customer_id: str) -> str:
        """A billing-portal link for the customer; ``Unavailable`` if the provider has none."""
        ...

    def parse_event(self, payload: bytes, signature: str | None) -> GatewayEvent:
        """Verify a webhook's signature over the raw body (``ValidationFailed`` if bad or stale) and read its
        envelope (id, type, created). The object inside is read by ``decode_event`` when processed."""
        ...

    def decode_event(self, payload: bytes) -> GatewayEvent:
        """Decode a payload already verified and stored (for retries)."""
        ...


class PlanRepository(Protocol):
    async def add(self, plan: Plan) -> None:
        """Stores the plan and its prices. Raises ``Conflict`` if the code is taken."""
        ...

    async def update(self, plan: Plan) -> None:
        """Stores the plan's fields and upserts its prices (prices are never deleted, only archived)."""
        ...

    async def get(self, plan_id: str) -> Plan | None: ...

    async def get_by_code(self, code: str) -> Plan | None: ...

    async def list(self, *, active_only: bool) -> list[Plan]:
        """Every plan (or the active ones) with its prices, oldest first."""
        ...

    async def price_by_provider_id(self, provider_price_id: str) -> Price | None: ...


class SubscriptionRepository(Protocol):
    async def get(self, subscription_id: str) -> Subscription | None: ...

    async def put(self, subscription: Subscription) -> None:
        """Insert or replace by id."""
        ...

    async def for_tenant(self, tenant_id: str) -> list[Subscription]: ...

    async def customer(self, tenant_id: str) -> BillingCustomer | None: ...

    async def add_customer(self, customer: BillingCustomer) -> bool:
        """False (and nothing changes) if the tenant already has one."""
        ...

    async def tenant_of_customer(self, customer_id: str) -> str | None: ...

    async def recurring_by_currency(self) -> list[tuple[str, int, int]]:
        """(currency, yearly amount, count) over subscriptions in MRR (active, past_due)."""
        ...

    async def count_by_plan_and_status(self) -> list[tuple[str | None, str, int]]:
        """(plan id, status, count)."""
        ...

    async def churn(self, since: datetime, until: datetime) -> tuple[int, int]:
        """(subscriptions live at ``since``, of those, how many ended before ``until``)."""
        ...


class InvoiceFilter(msgspec.Struct, frozen=True, kw_only=True):
    status: str | None = None
    currency: str | None = None
    tenant_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class InvoiceRepository(Protocol):
    async def get(self, invoice_id: str) -> Invoice | None: ...

    async def put(self, invoice: Invoice) -> None:
        """Insert or replace by id."""
        ...

    async def revenue(self, since: datetime, until: datetime) -> list[tuple[str, str, int, int]]:
        """(month YYYY-MM, currency, amount paid, invoices) of paid invoices, by payment time, oldest first."""
        ...

    async def list(self, where: InvoiceFilter, page: PageRequest) -> tuple[list[Invoice], int]:
        """Newest first (by creation), filtered on creation time."""
        ...


class BillingEventRepository(Protocol):
    async def add(self, event: StoredEvent) -> bool:
        """False (and nothing changes) if an event with this id is stored already."""
        ...

    async def get(self, event_id: str) -> StoredEvent | None: ...

    async def mark_processed(self, event_id: str, at: datetime) -> bool:
        """Atomically claim the event as processed; False if it already was (a lost race)."""
        ...

    async def record_failure(self, event_id: str, error: str, retry_at: datetime) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of unprocessed events whose retry time has come, oldest first."""
        ...
