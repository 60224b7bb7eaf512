"""SQL repositories of billing: plans and prices, subscriptions and customers, invoices, provider events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
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
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Conflict
from tesserra_core.ports.billing import InvoiceFilter

_NEVER_LIVE = (SubscriptionStatus.INCOMPLETE.value, SubscriptionStatus.INCOMPLETE_EXPIRED.value)


class _Upserts(_Repo):
    def _insert_stmt(self, table: Any) -> Any:
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    async def _upsert(self, table: Any, values: dict[str, Any], key: str) -> None:
        stmt = self._insert_stmt(table).values(values)
        changes = {k: stmt.excluded[k] for k in values if k != key}
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_=changes))

    async def _insert_new(self, table: Any, values: dict[str, Any]) -> bool:
        result = await self._conn.execute(self._insert_stmt(table).values(values).on_conflict_do_nothing())
        return bool(result.rowcount)


def _price(r: Row[Any]) -> Price:
    return from_row(Price, r)


def _plan(r: Row[Any], prices: list[Price]) -> Plan:
    return from_row(
        Plan,
        r,
        limits=msgspec.json.decode(r.limits, type=PlanLimits),
        prices=tuple(sorted(prices, key=lambda p: (p.created_at, p.id))),
    )


def _plan_values(plan: Plan) -> dict[str, Any]:
    return to_values(plan, omit=("prices",), limits=msgspec.json.encode(plan.limits).decode())


def _price_values(p: Price) -> dict[str, Any]:
    return to_values(p)


class SqlPlans(_Upserts):
    async def add(self, plan: Plan) -> None:
        await self._insert(
            t.plans, _plan_values(plan), Conflict(f"a plan with code {plan.code!r} exists", code="plan_code_taken")
        )
        for price in plan.prices:
            await self._upsert(t.plan_prices, _price_values(price), "id")

    async def update(self, plan: Plan) -> None:
        values = _plan_values(plan)
        del values["id"], values["created_at"], values["code"]
        await self._conn.execute(update(t.plans).where(t.plans.c.id == plan.id).values(values))
        for price in plan.prices:
            await self._upsert(t.plan_prices, _price_values(price), "id")

    async def _with_prices(self, rows: list[Row[Any]]) -> list[Plan]:
        if not rows:
            return []
        pp = t.plan_prices.c
        prices: dict[str, list[Price]] = {r.id: [] for r in rows}
        for row in await self._all(select(t.plan_prices).where(pp.plan_id.in_(list(prices)))):
            prices[row.plan_id].append(_price(row))
        return [_plan(r, prices[r.id]) for r in rows]

    async def get(self, plan_id: str) -> Plan | None:
        found = await self._with_prices(await self._all(select(t.plans).where(t.plans.c.id == plan_id)))
        return found[0] if found else None

    async def get_by_code(self, code: str) -> Plan | None:
        found = await self._with_prices(await self._all(select(t.plans).where(t.plans.c.code == code)))
        return found[0] if found else None

    async def list(self, *, active_only: bool) -> list[Plan]:
        stmt = select(t.plans).order_by(t.plans.c.created_at, t.plans.c.id)
        if active_only:
            stmt = stmt.where(t.plans.c.active.is_(True))
        return await self._with_prices(await self._all(stmt))

    async def price_by_provider_id(self, provider_price_id: str) -> Price | None:
        return await self._read_by(t.plan_prices, _price, stripe_price_id=provider_price_id)


def _subscription(r: Row[Any]) -> Subscription:
    return from_row(Subscription, r, interval=Interval(r.interval) if r.interval else None)


def _customer(r: Row[Any]) -> BillingCustomer:
    return from_row(BillingCustomer, r)


class SqlSubscriptions(_Upserts):
    async def get(self, subscription_id: str) -> Subscription | None:
        return await self._read_by(t.subscriptions, _subscription, id=subscription_id)

    async def put(self, s: Subscription) -> None:
        values = to_values(s)
        await self._upsert(t.subscriptions, values, "id")

    async def for_tenant(self, tenant_id: str) -> list[Subscription]:
        rows = await self._all(select(t.subscriptions).where(t.subscriptions.c.tenant_id == tenant_id))
        return [_subscription(r) for r in rows]

    async def customer(self, tenant_id: str) -> BillingCustomer | None:
        return await self._read_by(t.billing_customers, _customer, tenant_id=tenant_id)

    async def add_customer(self, customer: BillingCustomer) -> bool:
        return await self._insert_new(t.billing_customers, to_values(customer))

    async def tenant_of_customer(self, customer_id: str) -> str | None:
        c = t.billing_customers.c
        row = await self._one(select(c.tenant_id).where(c.customer_id == customer_id))
        return row.tenant_id if row else None

    async def recurring_by_currency(self) -> list[tuple[str, int, int]]:
        s = t.subscriptions.c
        yearly = func.sum(case((s.interval == Interval.YEAR.value, s.amount), else_=s.amount * 12))
        rows = await self._all(
            select(s.currency, yearly.label("yearly"), func.count().label("n"))
            .where(s.status.in_([x.value for x in RECURRING_STATUSES]))
            .group_by(s.currency)
            .order_by(s.currency)
        )
        return [(r.currency, int(r.yearly or 0), int(r.n)) for r in rows]

    async def count_by_plan_and_status(self) -> list[tuple[str | None, str, int]]:
        s = t.subscriptions.c
        rows = await self._all(select(s.plan_id, s.status, func.count().label("n")).group_by(s.plan_id, s.status))
        return sorted(((r.plan_id, r.status, int(r.n)) for r in rows), key=lambda x: (x[0] or "", x[1]))

    async def churn(self, since: datetime, until: datetime) -> tuple[int, int]:
        s = t.subscriptions.c
        live = and_(s.started_at < since, s.status.not_in(_NEVER_LIVE), (s.ended_at.is_(None)) | (s.ended_at >= since))
        ended = and_(s.ended_at.is_not(None), s.ended_at < until)
        row = await self._one(
            select(
                func.count().label("live"),
                func.coalesce(func.sum(case((ended, 1), else_=0)), 0).label("churned"),
            ).where(live)
        )
        assert row is not None
        return int(row.live), int(row.churned)


def _invoice(r: Row[Any]) -> Invoice:
    return from_row(Invoice, r)


class SqlInvoices(_Upserts):
    async def get(self, invoice_id: str) -> Invoice | None:
        return await self._read_by(t.invoices, _invoice, id=invoice_id)

    async def put(self, invoice: Invoice) -> None:
        values = to_values(invoice, paid_month=invoice.paid_month)
        await self._upsert(t.invoices, values, "id")

    async def revenue(self, since: datetime, until: datetime) -> list[tuple[str, str, int, int]]:
        i = t.invoices.c
        rows = await self._all(
            select(i.paid_month, i.currency, func.sum(i.amount_paid).label("amount"), func.count().label("n"))
            .where(i.status == "paid", i.paid_at >= since, i.paid_at < until)
            .group_by(i.paid_month, i.currency)
            .order_by(i.paid_month, i.currency)
        )
        return [(r.paid_month, r.currency, int(r.amount or 0), int(r.n)) for r in rows]

    async def list(self, where: InvoiceFilter, page: PageRequest) -> tuple[list[Invoice], int]:
        i = t.invoices.c
        conditions: list[Any] = []
        if where.status is not None:
            conditions.append(i.status == where.status)
        if where.currency is not None:
            conditions.append(i.currency == where.currency)
        if where.tenant_id is not None:
            conditions.append(i.tenant_id == where.tenant_id)
        if where.since is not None:
            conditions.append(i.created_at >= where.since)
        if where.until is not None:
            conditions.append(i.created_at < where.until)
        return await self._page(t.invoices, _invoice, page, and_(True, *conditions), i.created_at.desc(), i.id.desc())


def _event(r: Row[Any]) -> StoredEvent:
    return from_row(StoredEvent, r, payload=bytes(r.payload))


class SqlBillingEvents(_Upserts):
    async def add(self, event: StoredEvent) -> bool:
        return await self._insert_new(t.billing_events, to_values(event))

    async def get(self, event_id: str) -> StoredEvent | None:
        return await self._read_by(t.billing_events, _event, id=event_id)

    async def mark_processed(self, event_id: str, at: datetime) -> bool:
        return await self._stamp(t.billing_events, "processed_at", at, t.billing_events.c.id == event_id)

    async def record_failure(self, event_id: str, error: str, retry_at: datetime) -> None:
        e = t.billing_events.c
        await self._conn.execute(
            update(t.billing_events)
            .where(e.id == event_id, e.processed_at.is_(None))
            .values(attempts=e.attempts + 1, last_error=error, next_attempt_at=retry_at)
        )

    async def due(self, now: datetime, limit: int) -> list[str]:
        e = t.billing_events.c
        rows = await self._all(
            select(e.id)
            .where(e.processed_at.is_(None), e.next_attempt_at <= now)
            .order_by(e.next_attempt_at, e.id)
            .limit(limit)
        )
        return [r.id for r in rows]
