"""The admin's finance figures on the memory adapters: MRR, subscriptions, revenue, churn, invoices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tesserra_core.domain.billing import Interval
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.finance import InvoiceQuery
from tesserra_core.usecases.subscriptions import CheckoutStart
from tests import stripe_support as s
from tests.unit.billing_support import NOW, PRO, customer_of, deliver, price_of, subscribe, synced_plan
from tests.unit.helpers import FakeClock, Team


async def test_finance_figures(uc: UseCases, admin: Principal, team: Team, clock: FakeClock) -> None:
    from tests.unit.conftest import make_team

    pro = await synced_plan(uc, admin, "pro", PRO)
    other = await make_team(uc, admin)
    _, sub_a = await subscribe(uc, admin, team, pro, created=NOW)
    await uc.subscriptions.start_checkout(
        other.owner, CheckoutStart(plan="pro", currency="USD", interval=Interval.YEAR)
    )
    cus_b = await customer_of(uc, other)
    yearly = s.subscription(
        "sub_b", cus_b, price_of(pro, "USD"), amount=19000, currency="usd", interval="year", start=NOW - 86400 * 40
    )
    assert await deliver(uc, s.event("customer.subscription.created", yearly, NOW))
    jan = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())
    feb = int(datetime(2026, 2, 15, tzinfo=UTC).timestamp())
    cus_a = await customer_of(uc, team)
    for inv, cus, sub, amount, cur, at, status in (
        ("in_a1", cus_a, sub_a, 1900, "eur", jan, "paid"),
        ("in_a2", cus_a, sub_a, 1900, "eur", feb, "paid"),
        ("in_b1", cus_b, "sub_b", 19000, "usd", feb, "paid"),
        ("in_b2", cus_b, "sub_b", 19000, "usd", feb + 10, "open"),
    ):
        payload = s.invoice(inv, cus, sub, status, amount=amount, currency=cur, created=at, paid_at=at + 60)
        await deliver(uc, s.event("invoice.paid" if status == "paid" else "invoice.payment_failed", payload, NOW))

    mrr = {r.currency: r for r in (await uc.finance.recurring(admin)).items}
    assert (mrr["EUR"].mrr, mrr["EUR"].arr, mrr["EUR"].subscriptions) == (1900, 22800, 1)
    assert (mrr["USD"].mrr, mrr["USD"].arr) == (1583, 19000)

    counts = await uc.finance.subscriptions(admin)
    assert counts.active == 2
    assert {(c.plan, c.status, c.count) for c in counts.items} == {("pro", "active", 2)}

    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    revenue = await uc.finance.revenue(admin, since, until)
    assert [(r.month, r.currency, r.amount, r.invoices) for r in revenue.items] == [
        ("2026-01", "EUR", 1900, 1),
        ("2026-02", "EUR", 1900, 1),
        ("2026-02", "USD", 19000, 1),
    ]

    page = await uc.finance.invoices(admin, InvoiceQuery(currency="usd"), PageRequest(10, 0))
    assert [i.id for i in page.items] == ["in_b2", "in_b1"]
    page = await uc.finance.invoices(admin, InvoiceQuery(status="paid", tenant_id=team.tenant_id), PageRequest(1, 1))
    assert (page.total, [i.id for i in page.items]) == (2, ["in_a1"])
    with pytest.raises(ValidationFailed):
        await uc.finance.invoices(admin, InvoiceQuery(status="lost"), PageRequest())
    with pytest.raises(Unprocessable):  # a period that ends before it starts: semantic, 422
        await uc.finance.revenue(admin, until, since)

    ended = s.subscription(
        "sub_b", cus_b, price_of(pro, "USD"), "canceled", currency="usd", interval="year", ended_at=NOW + 100
    )
    assert await deliver(uc, s.event("customer.subscription.deleted", ended, NOW + 100))
    churn = await uc.finance.churn(
        admin, datetime.fromtimestamp(NOW - 86400, UTC), datetime.fromtimestamp(NOW + 86400, UTC)
    )
    assert (churn.active_at_start, churn.churned, churn.rate) == (2, 1, 0.5)
