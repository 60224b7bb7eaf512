"""Admin finance: recurring revenue, subscriptions by plan and status, revenue, churn, invoices.

All figures come from SQL aggregates over the stored subscriptions and invoices (which the
provider's events keep current). Amounts are integers in each currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import msgspec

from tesserra_core.domain.billing import Invoice, check_currency
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Unprocessable, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.billing import InvoiceFilter
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.views import View

INVOICE_STATUSES = frozenset({"draft", "open", "paid", "uncollectible", "void"})
_MAX_SPAN = timedelta(days=3660)


class RecurringRevenue(msgspec.Struct, frozen=True):
    currency: str
    mrr: int
    """Monthly: monthly prices as they are, yearly ones divided by 12 (rounded to the minor unit)."""
    arr: int
    subscriptions: int


class RecurringView(msgspec.Struct, frozen=True):
    items: list[RecurringRevenue]


class PlanStatusCount(msgspec.Struct, frozen=True):
    plan: str | None
    status: str
    count: int


class SubscriptionCounts(msgspec.Struct, frozen=True):
    items: list[PlanStatusCount]
    active: int
    """Active or trialing: the subscriptions that entitle."""


class MonthlyRevenue(msgspec.Struct, frozen=True):
    month: str
    currency: str
    amount: int
    invoices: int


class RevenueView(msgspec.Struct, frozen=True):
    since: datetime
    until: datetime
    items: list[MonthlyRevenue]


class ChurnView(msgspec.Struct, frozen=True):
    since: datetime
    until: datetime
    active_at_start: int
    churned: int
    rate: float
    """churned / active_at_start (0 when nothing was active)."""


class InvoiceView(View[Invoice], frozen=True):
    id: str
    tenant_id: str
    subscription_id: str | None
    status: str
    currency: str
    amount_due: int
    amount_paid: int
    created_at: datetime
    paid_at: datetime | None


InvoiceQuery = InvoiceFilter
"""What an administrator asks for: the store's filter, before its status, currency and times are checked."""


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def period(
    since: datetime | None, until: datetime | None, now: datetime, default: timedelta
) -> tuple[datetime, datetime]:
    end = _aware(until) if until is not None else now
    start = _aware(since) if since is not None else end - default
    if start >= end:  # a relation between two values (and now): semantic, 422
        raise Unprocessable("since must be before until", code="invalid_period")
    if end - start > _MAX_SPAN:
        raise Unprocessable("the period may span at most ten years", code="invalid_period")
    return start, end


@dataclass(frozen=True, slots=True)
class Recurring:
    """MRR and ARR per currency over active and past-due subscriptions, a yearly price counting for a twelfth
    each month (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal) -> RecurringView:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            rows = await uow.subscriptions.recurring_by_currency()
        return RecurringView(
            items=[RecurringRevenue(currency, round(yearly / 12), yearly, count) for currency, yearly, count in rows]
        )


@dataclass(frozen=True, slots=True)
class CountSubscriptions:
    """Subscriptions by plan and status (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal) -> SubscriptionCounts:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            rows = await uow.subscriptions.count_by_plan_and_status()
            codes = {p.id: p.code for p in await uow.plans.list(active_only=False)}
        items = [PlanStatusCount(codes.get(plan_id, plan_id) if plan_id else None, s, n) for plan_id, s, n in rows]
        active = sum(i.count for i in items if i.status in ("active", "trialing"))
        return SubscriptionCounts(items, active)


@dataclass(frozen=True, slots=True)
class Revenue:
    """Paid invoices by month of payment and currency over a period, by default the last 365 days (platform
    administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(
        self, actor: Principal, since: datetime | None = None, until: datetime | None = None
    ) -> RevenueView:
        actor.require_platform_admin()
        start, end = period(since, until, self.clock.now(), timedelta(days=365))
        async with self.uow(read_only=True) as uow:
            rows = await uow.invoices.revenue(start, end)
        return RevenueView(since=start, until=end, items=[MonthlyRevenue(*row) for row in rows])


@dataclass(frozen=True, slots=True)
class Churn:
    """Subscriptions live at ``since`` that ended before ``until``, by default over the last 30 days (platform
    administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(
        self, actor: Principal, since: datetime | None = None, until: datetime | None = None
    ) -> ChurnView:
        actor.require_platform_admin()
        start, end = period(since, until, self.clock.now(), timedelta(days=30))
        async with self.uow(read_only=True) as uow:
            live, churned = await uow.subscriptions.churn(start, end)
        return ChurnView(
            since=start,
            until=end,
            active_at_start=live,
            churned=churned,
            rate=round(churned / live, 4) if live else 0.0,
        )


@dataclass(frozen=True, slots=True)
class ListInvoices:
    """Invoices, newest first, filtered by status, currency, tenant and creation period (platform
    administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceView]:
        actor.require_platform_admin()
        if query.status is not None and query.status not in INVOICE_STATUSES:
            raise ValidationFailed(
                f"status must be one of {', '.join(sorted(INVOICE_STATUSES))}", code="invalid_invoice_status"
            )
        if query.since is not None and query.until is not None and _aware(query.since) >= _aware(query.until):
            raise Unprocessable("since must be before until", code="invalid_period")
        where = msgspec.structs.replace(
            query,
            currency=check_currency(query.currency) if query.currency is not None else None,
            since=_aware(query.since) if query.since is not None else None,
            until=_aware(query.until) if query.until is not None else None,
        )
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.invoices.list(where, page), InvoiceView.of)


@dataclass(frozen=True, slots=True)
class Finance:
    """/api/admin/financeiro."""

    recurring: Recurring
    subscriptions: CountSubscriptions
    revenue: Revenue
    churn: Churn
    invoices: ListInvoices


def finance(p: Ports) -> Finance:
    return Finance(
        recurring=Recurring(p.uow),
        subscriptions=CountSubscriptions(p.uow),
        revenue=Revenue(p.uow, p.clock),
        churn=Churn(p.uow, p.clock),
        invoices=ListInvoices(p.uow),
    )
