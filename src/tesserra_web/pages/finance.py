"""Admin finance for platform administrators (uc.finance, as /api/admin/financeiro): recurring revenue per
currency, revenue by month of payment, churn month by month and subscriptions by plan and status, drawn as
inline SVG. Every figure is the use cases'; this page only lays them out over the last twelve months."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

from tesserra_core.domain.billing import format_amount
from tesserra_core.domain.identity import Principal
from tesserra_core.usecases.finance import INVOICE_STATUSES, ChurnView, InvoiceQuery, RecurringView, RevenueView
from tesserra_web.charts import Chart, Datum, columns, line, rows
from tesserra_web.web import Console, Pager, render

AnyRequest = Request[Any, Any, Any]
MONTHS = 12


def month_starts(now: datetime, count: int = MONTHS) -> list[datetime]:
    """The first instants (UTC) of the ``count`` calendar months up to ``now``'s, then of the month after."""
    current = now.year * 12 + now.month - 1  # months since January of year 0
    return [_month(index) for index in range(current - count + 1, current + 2)]


def _month(index: int) -> datetime:
    year, month = divmod(index, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def _in_currency(currency: str, amount: float) -> str:
    return format_amount(round(amount), currency)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def recurring_chart(view: RecurringView) -> Chart:
    data = [
        Datum(
            r.currency,
            r.mrr,
            f"{format_amount(r.mrr, r.currency)} a month ({_plural(r.subscriptions, 'subscription')})",
            short=format_amount(r.mrr, r.currency),
        )
        for r in view.items
    ]
    return rows(
        "mrr",
        "Monthly recurring revenue by currency",
        "One bar per currency over active and past-due subscriptions, yearly prices counted as a twelfth; "
        "currencies are not converted, so bars of different currencies do not compare.",
        data,
        "Currency",
    )


def revenue_charts(view: RevenueView, months: list[str]) -> list[Chart]:
    """One chart per currency: a column per month, empty months included."""
    by_currency: dict[str, dict[str, tuple[int, int]]] = {}
    for item in view.items:
        by_currency.setdefault(item.currency, {})[item.month] = (item.amount, item.invoices)
    charts = []
    for currency, paid in sorted(by_currency.items()):
        data = []
        for month in months:
            amount, n = paid.get(month, (0, 0))
            data.append(Datum(month, amount, f"{format_amount(amount, currency)} from {_plural(n, 'paid invoice')}"))
        charts.append(
            columns(
                f"revenue-{currency.lower()}",
                f"Revenue by month in {currency}",
                f"Paid invoices by month of payment from {months[0]} to {months[-1]}, one column per month.",
                data,
                "Month",
                functools.partial(_in_currency, currency),
            )
        )
    return charts


def churn_chart(views: list[ChurnView], months: list[str]) -> Chart:
    data = [
        Datum(
            month,
            v.rate,
            f"{v.rate:.2%}: {v.churned} of {_plural(v.active_at_start, 'subscription')} live at the start",
        )
        for month, v in zip(months, views, strict=True)
    ]
    return line(
        "churn",
        "Churn by month",
        f"The share of subscriptions live at the start of each month that ended in it, {months[0]} to {months[-1]}.",
        data,
        "Month",
        lambda top: f"{top:.2%}",
    )


async def _figures(console: Console, actor: Principal, now: datetime) -> dict[str, Any]:
    finance = console.uc.finance
    starts = month_starts(now)
    months = [s.strftime("%Y-%m") for s in starts[:-1]]
    recurring = await finance.recurring(actor)
    revenue = await finance.revenue(actor, starts[0], starts[-1])
    churn = [await finance.churn(actor, a, b) for a, b in itertools.pairwise(starts)]
    return {
        "recurring": recurring,
        "mrr_chart": recurring_chart(recurring),
        "revenue_charts": revenue_charts(revenue, months),
        "churn_chart": churn_chart(churn, months),
        "counts": await finance.subscriptions(actor),
        "months": months,
    }


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/admin/finance")
    async def finance_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        figures = await _figures(console, actor, datetime.now(UTC))  # 403 admin_only for anyone else
        return render(request, "finance.html", session=session, actor=actor, money=format_amount, **figures)

    @get("/admin/finance/invoices")
    async def invoices_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        chosen = {k: request.query_params.get(k, "")[:64] for k in ("status", "currency", "tenant_id")}
        query = InvoiceQuery(  # checked by the use case (400 on an unknown state or currency)
            status=chosen["status"] or None, currency=chosen["currency"] or None, tenant_id=chosen["tenant_id"] or None
        )
        page = await console.uc.finance.invoices(actor, query, pager.request)
        return render(
            request,
            "finance_invoices.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            statuses=sorted(INVOICE_STATUSES),
            chosen=chosen,
            money=format_amount,
        )

    return [finance_page, invoices_page]
