"""A tenant's own invoices (uc.subscriptions.invoices / .invoice), amounts as people read them, and the console's
chart geometry and months: pure functions and memory adapters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tesserra_core.domain.billing import format_amount, minor_digits
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, NotFound
from tesserra_core.facade import UseCases
from tesserra_web.charts import PLOT_HEIGHT, PLOT_TOP, Datum, columns, line
from tesserra_web.pages.finance import month_starts
from tests import stripe_support as s
from tests.unit.billing_support import NOW, PRO, customer_of, deliver, subscribe, synced_plan
from tests.unit.helpers import Team


async def test_a_tenant_reads_its_own_invoices_only(uc: UseCases, admin: Principal, team: Team) -> None:
    from tests.unit.conftest import make_team

    pro = await synced_plan(uc, admin, "pro", PRO)
    other = await make_team(uc, admin)
    _, sub = await subscribe(uc, admin, team, pro, created=NOW)
    _, theirs = await subscribe(uc, admin, other, pro, created=NOW)
    mine, cus, cus_other = [], await customer_of(uc, team), await customer_of(uc, other)
    for n in range(3):
        mine.append(f"in_mine_{n}")
        invoice = s.invoice(f"in_mine_{n}", cus, sub, amount=1900 + n, created=NOW - 1000 + n)
        assert await deliver(uc, s.event("invoice.paid", invoice, NOW))
    assert await deliver(uc, s.event("invoice.paid", s.invoice("in_theirs", cus_other, theirs), NOW))

    page = await uc.subscriptions.invoices(team.owner, PageRequest(limit=2))
    assert ([i.id for i in page.items], page.total) == (["in_mine_2", "in_mine_1"], 3)
    assert (await uc.subscriptions.invoice(team.owner, "in_mine_0")).amount_paid == 1900
    with pytest.raises(NotFound):
        await uc.subscriptions.invoice(team.owner, "in_theirs")
    with pytest.raises(Forbidden):  # a member holds no billing:read
        await uc.subscriptions.invoices(team.member, PageRequest())
    with pytest.raises(Forbidden):
        await uc.subscriptions.invoice(team.member, "in_mine_0")


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1900, "eur", "19.00 EUR"),
        (5, "USD", "0.05 USD"),
        (1500, "JPY", "1,500 JPY"),
        (12345, "KWD", "12.345 KWD"),
        (123456789, "BRL", "1,234,567.89 BRL"),
        (-250, "EUR", "-2.50 EUR"),
    ],
)
def test_amounts_read_in_the_currencys_unit(amount: int, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


def test_minor_digits_follow_stripe() -> None:
    assert (minor_digits("EUR"), minor_digits("jpy"), minor_digits("BHD")) == (2, 0, 3)


def test_twelve_calendar_months_up_to_now_across_a_year() -> None:
    starts = month_starts(datetime(2026, 2, 10, 8, tzinfo=UTC))
    assert [s.strftime("%Y-%m") for s in starts] == [
        "2025-03",
        "2025-04",
        "2025-05",
        "2025-06",
        "2025-07",
        "2025-08",
        "2025-09",
        "2025-10",
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    assert all(s.day == 1 and s.hour == 0 and s.tzinfo is UTC for s in starts)
    december = month_starts(datetime(2026, 12, 31, 23, tzinfo=UTC), 2)
    assert december == [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    ]


def test_columns_scale_to_the_tallest_and_lines_to_the_highest() -> None:
    data = [Datum("a", 50, "fifty"), Datum("b", 200, "two hundred"), Datum("c", 0, "none")]
    chart = columns("c", "Title", "Desc", data, "Label", str)
    heights = [m.height for m in chart.marks]
    assert heights == [PLOT_HEIGHT / 4, PLOT_HEIGHT, 0]
    assert [m.y + m.height for m in chart.marks] == [PLOT_TOP + PLOT_HEIGHT] * 3  # all stand on the baseline
    assert chart.marks[0].x < chart.marks[1].x < chart.marks[2].x
    assert chart.scale == "200"
    flat = line("l", "Title", "Desc", [Datum("a", 0, "0"), Datum("b", 0, "0")], "Label", str)
    assert [m.y for m in flat.marks] == [PLOT_TOP + PLOT_HEIGHT] * 2  # nothing to scale: on the baseline
    assert flat.points.count(",") == 2
