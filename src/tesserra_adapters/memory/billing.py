"""In-memory billing repositories (same contract as the SQL ones), over the MemoryStore's dicts."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.billing import (
    RECURRING_STATUSES,
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
from tesserra_core.errors import Conflict
from tesserra_core.ports.billing import InvoiceFilter


class MemoryPlans(_Repo):
    async def add(self, plan: Plan) -> None:
        if any(p.code == plan.code for p in self._store.plans.values()):
            raise Conflict(f"a plan with code {plan.code!r} exists", code="plan_code_taken")
        await self.update(plan)

    async def update(self, plan: Plan) -> None:
        self._put(self._store.plans, plan.id, msgspec.structs.replace(plan, prices=()))
        for price in plan.prices:
            self._put(self._store.prices, price.id, price)

    def _full(self, plan: Plan) -> Plan:
        prices = sorted(
            (p for p in self._store.prices.values() if p.plan_id == plan.id), key=lambda p: (p.created_at, p.id)
        )
        return msgspec.structs.replace(plan, prices=tuple(prices))

    async def get(self, plan_id: str) -> Plan | None:
        plan = self._store.plans.get(plan_id)
        return self._full(plan) if plan is not None else None

    async def get_by_code(self, code: str) -> Plan | None:
        plan = next((p for p in self._store.plans.values() if p.code == code), None)
        return self._full(plan) if plan is not None else None

    async def list(self, *, active_only: bool) -> list[Plan]:
        plans = sorted(self._store.plans.values(), key=lambda p: (p.created_at, p.id))
        return [self._full(p) for p in plans if p.active or not active_only]

    async def price_by_provider_id(self, provider_price_id: str) -> Price | None:
        return next((p for p in self._store.prices.values() if p.stripe_price_id == provider_price_id), None)


class MemorySubscriptions(_Repo):
    async def get(self, subscription_id: str) -> Subscription | None:
        return self._store.subscriptions.get(subscription_id)

    async def put(self, subscription: Subscription) -> None:
        self._put(self._store.subscriptions, subscription.id, subscription)

    async def for_tenant(self, tenant_id: str) -> list[Subscription]:
        return [s for s in self._store.subscriptions.values() if s.tenant_id == tenant_id]

    async def customer(self, tenant_id: str) -> BillingCustomer | None:
        return self._store.customers.get(tenant_id)

    async def add_customer(self, customer: BillingCustomer) -> bool:
        taken = any(c.customer_id == customer.customer_id for c in self._store.customers.values())
        if customer.tenant_id in self._store.customers or taken:
            return False
        self._put(self._store.customers, customer.tenant_id, customer)
        return True

    async def tenant_of_customer(self, customer_id: str) -> str | None:
        return next((c.tenant_id for c in self._store.customers.values() if c.customer_id == customer_id), None)

    async def recurring_by_currency(self) -> list[tuple[str, int, int]]:
        totals: dict[str, tuple[int, int]] = {}
        for s in self._store.subscriptions.values():
            if s.status in RECURRING_STATUSES:
                yearly, n = totals.get(s.currency, (0, 0))
                totals[s.currency] = (yearly + (s.amount if s.interval is Interval.YEAR else s.amount * 12), n + 1)
        return [(c, yearly, n) for c, (yearly, n) in sorted(totals.items())]

    async def count_by_plan_and_status(self) -> list[tuple[str | None, str, int]]:
        counts: dict[tuple[str | None, str], int] = {}
        for s in self._store.subscriptions.values():
            key = (s.plan_id, s.status.value)
            counts[key] = counts.get(key, 0) + 1
        return sorted(((p, st, n) for (p, st), n in counts.items()), key=lambda x: (x[0] or "", x[1]))

    async def churn(self, since: datetime, until: datetime) -> tuple[int, int]:
        never = (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.INCOMPLETE_EXPIRED)
        live = [
            s
            for s in self._store.subscriptions.values()
            if s.started_at < since and s.status not in never and (s.ended_at is None or s.ended_at >= since)
        ]
        return len(live), sum(1 for s in live if s.ended_at is not None and s.ended_at < until)


class MemoryInvoices(_Repo):
    async def get(self, invoice_id: str) -> Invoice | None:
        return self._store.invoices.get(invoice_id)

    async def put(self, invoice: Invoice) -> None:
        self._put(self._store.invoices, invoice.id, invoice)

    async def revenue(self, since: datetime, until: datetime) -> list[tuple[str, str, int, int]]:
        totals: dict[tuple[str, str], tuple[int, int]] = {}
        for i in self._store.invoices.values():
            if i.status == "paid" and i.paid_at is not None and since <= i.paid_at < until:
                key = (i.paid_at.strftime("%Y-%m"), i.currency)
                amount, n = totals.get(key, (0, 0))
                totals[key] = (amount + i.amount_paid, n + 1)
        return [(m, c, amount, n) for (m, c), (amount, n) in sorted(totals.items())]

    async def list(self, where: InvoiceFilter, page: PageRequest) -> tuple[list[Invoice], int]:
        found = [
            i
            for i in self._store.invoices.values()
            if where.status in (None, i.status)
            and where.currency in (None, i.currency)
            and where.tenant_id in (None, i.tenant_id)
            and (where.since is None or i.created_at >= where.since)
            and (where.until is None or i.created_at < where.until)
        ]
        found.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        return page.window(found)


class MemoryBillingEvents(_Repo):
    async def add(self, event: StoredEvent) -> bool:
        if event.id in self._store.billing_events:
            return False
        self._put(self._store.billing_events, event.id, event)
        return True

    async def get(self, event_id: str) -> StoredEvent | None:
        return self._store.billing_events.get(event_id)

    async def mark_processed(self, event_id: str, at: datetime) -> bool:
        return self._stamp(self._store.billing_events, event_id, "processed_at", at)

    async def record_failure(self, event_id: str, error: str, retry_at: datetime) -> None:
        event = self._store.billing_events.get(event_id)
        if event is None or event.processed_at is not None:
            return
        failed = msgspec.structs.replace(event, attempts=event.attempts + 1, last_error=error, next_attempt_at=retry_at)
        self._put(self._store.billing_events, event_id, failed)

    async def due(self, now: datetime, limit: int) -> list[str]:
        due = [
            e
            for e in self._store.billing_events.values()
            if e.processed_at is None and e.next_attempt_at is not None and e.next_attempt_at <= now
        ]
        due.sort(key=lambda e: (e.next_attempt_at or now, e.id))
        return [e.id for e in due[:limit]]
