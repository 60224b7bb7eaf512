"""The billing and finance pages over a real socket, on a live server whose Stripe is the recording server
(localstripe lacks Checkout and the portal): an owner picks a price and leaves for Stripe Checkout from a page
of ours (shown once), a signed webhook makes the subscription active, the owner opens the portal and cancels;
invoices are paged and another tenant's invoice is a 404 page; an admin reads without write controls and a
viewer sees only the plans, and the server refuses their posts anyway; forged posts are refused; finance is
for platform administrators only and draws, as inline SVG, the figures of the invoices and subscriptions the
test seeds on a server of its own."""

from __future__ import annotations

import html
import itertools
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tesserra_core.domain.billing import (
    BillingCustomer,
    Interval,
    Invoice,
    Subscription,
    SubscriptionStatus,
    format_amount,
)
from tesserra_core.domain.identity import Role
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice, PlanView
from tesserra_web.pages.finance import month_starts
from tests import stripe_support as s
from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Account, Accounts, fresh_address
from tests.drivers.web.conftest import ConsoleClient
from tests.stripe_recorder import StripeRecorder, stripe_recorder
from tests.support import LiveServer, database_url, live_server

SECRET = "whsec_console_tests"
_META_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')
_MARK = re.compile(r'<(rect|circle) class="mark"[^>]*data-label="([^"]+)" data-value="([^"]+)"')


class Site:
    def __init__(self, server: LiveServer, recorder: StripeRecorder) -> None:
        self.server = server
        self.recorder = recorder
        self.accounts = Accounts(server.uc)

    def console(self) -> ConsoleClient:
        transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
        return ConsoleClient(httpx.AsyncClient(base_url=self.server.url, transport=transport, timeout=20.0))

    async def plan(self) -> PlanView:
        """A plan with a synced EUR monthly price and a BRL one not synced yet (not offered at checkout)."""
        admin = await self.accounts.admin_principal()
        uc = self.server.uc
        made = await uc.plans.create(
            admin,
            NewPlan(
                code=f"pro-{uuid.uuid4().hex[:6]}",
                name=f"Pro {uuid.uuid4().hex[:4]}",
                prices=[NewPrice(currency="EUR", interval=Interval.MONTH, amount=1900)],
            ),
        )
        await uc.plans.sync(admin, made.id)
        return await uc.plans.add_price(admin, made.id, NewPrice(currency="BRL", interval=Interval.MONTH, amount=4900))

    async def webhook(self, kind: str, obj: dict[str, object]) -> None:
        payload = s.event(kind, obj, int(time.time()))
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            answer = await http.post(
                "/api/webhooks/stripe", content=payload, headers={"Stripe-Signature": s.sign(payload, SECRET)}
            )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("console-billing")
    async with stripe_recorder() as recorder, database_url("sqlite", tmp) as url:
        settings = support.test_settings(
            tmp, url, stripe_api_key="sk_test_console", stripe_webhook_secret=SECRET, stripe_api_base=recorder.url
        )
        async with live_server(settings) as server:
            assert await server.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield Site(server, recorder)


async def _signed_in(site: Site, account: Account) -> ConsoleClient:
    console = site.console()
    await console.sign_in(account.email, PASSWORD)
    return console


async def _leave_for_stripe(console: ConsoleClient, path: str, data: dict[str, str] | None = None) -> str:
    """Post a checkout or portal form; the page it leads to sends the browser on, once."""
    posted = await console.post(path, data)
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"] == "/console/billing/continue"
    page = await console.get("/console/billing/continue")
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "same-origin"  # Stripe gets no referrer
    found = _META_REFRESH.search(page.text)
    assert found, page.text
    url = html.unescape(found.group(1))
    assert f'href="{found.group(1)}"' in page.text  # and a link, for a browser that does not go on
    again = await console.get("/console/billing/continue")
    assert "This link is gone" in again.text
    assert found.group(1) not in again.text
    return url


def _invoice(
    invoice_id: str, tenant_id: str, customer: str, amount: int, paid: datetime, currency: str = "EUR"
) -> Invoice:
    return Invoice(
        id=invoice_id,
        customer_id=customer,
        subscription_id=None,
        status="paid",
        currency=currency,
        amount_due=amount,
        amount_paid=amount,
        created_at=paid - timedelta(minutes=5),
        paid_at=paid,
        tenant_id=tenant_id,
        as_of=paid,
    )


async def test_an_owner_subscribes_through_checkout_opens_the_portal_and_cancels(site: Site) -> None:
    plan = await site.plan()
    owner = await site.accounts.tenant_owner()
    console = await _signed_in(site, owner)

    page = await console.get("/console/billing")
    assert page.status_code == 200
    assert plan.name in page.text
    assert "19.00 EUR a month" in page.text
    assert "49.00 BRL a month (not offered yet)" in page.text
    assert page.text.count('action="/console/billing/checkout"') == 1  # only the synced price
    assert "no subscription (free plan)" in page.text
    assert 'href="/console/billing" aria-current="page">Billing' in page.text

    url = await _leave_for_stripe(
        console, "/console/billing/checkout", {"plan": plan.code, "currency": "EUR", "interval": "month"}
    )
    assert url.startswith("https://checkout.stripe.com/c/pay/")
    call = site.recorder.calls("POST", "/v1/checkout/sessions")[-1]
    eur = next(p for p in plan.prices if p.currency == "EUR")
    assert call.form["line_items[0][price]"] == eur.stripe_price_id
    assert call.form["client_reference_id"] == owner.tenant_id

    # Refused input is shown on the page, with the status the API answers.
    wrong = await console.post(
        "/console/billing/checkout", {"plan": plan.code, "currency": "EURO", "interval": "month"}
    )
    assert wrong.status_code == 400
    assert "Choose one of the listed prices." in wrong.text
    unsynced = await console.post(
        "/console/billing/checkout", {"plan": plan.code, "currency": "BRL", "interval": "month"}
    )
    assert unsynced.status_code == 409
    assert "plan has no synced price for BRL" in unsynced.text
    missing = await console.post("/console/billing/checkout", {"plan": "nope", "currency": "EUR", "interval": "month"})
    assert missing.status_code == 404

    # Stripe tells us the subscription is active (a signed webhook, as Stripe sends it).
    async with site.server.uc.ports.uow(read_only=True) as uow:
        customer = await uow.subscriptions.customer(owner.tenant_id)
    assert customer is not None
    sub_id = f"sub_{owner.tenant_id}"
    subscription = s.subscription(sub_id, customer.customer_id, str(eur.stripe_price_id), period_end=1_900_000_000)
    site.recorder.subscriptions[sub_id] = subscription
    await site.webhook("customer.subscription.created", subscription)

    page = await console.get("/console/billing")
    assert re.search(r'<span class="status status-active">active</span>', page.text)
    assert "Renews</dt><dd>2030-03-17" in page.text
    assert 'action="/console/billing/checkout"' not in page.text  # subscribed: plans change in the portal
    assert 'id="cancel"' in page.text

    portal = await _leave_for_stripe(console, "/console/billing/portal")
    assert portal.startswith("https://billing.stripe.com/p/session/")

    cancelled = await console.post("/console/billing/cancel")
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == "/console/billing?cancelled=1"
    page = await console.get(cancelled.headers["location"])
    assert "Cancelled: the plan stays until the end of the paid period." in page.text
    assert "Ends</dt><dd>2030-03-17" in page.text
    assert 'id="cancel"' not in page.text
    assert site.recorder.calls("POST", f"/v1/subscriptions/{sub_id}")[-1].form["cancel_at_period_end"] == "true"


async def test_invoices_are_paged_and_another_tenants_invoice_is_a_404_page(site: Site) -> None:
    owner, stranger = await site.accounts.tenant_owner(), await site.accounts.tenant_owner("Stranger")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with site.server.uc.ports.uow() as uow:
        for i in range(23):  # 20 a page: two pages
            paid = start + timedelta(days=i)
            await uow.invoices.put(_invoice(f"in_{owner.tenant_id}_{i:02d}", owner.tenant_id, "cus_x", 100 + i, paid))
        await uow.invoices.put(_invoice(f"in_{stranger.tenant_id}", stranger.tenant_id, "cus_y", 999, start))
        await uow.commit()
    console = await _signed_in(site, owner)

    first = await console.get("/console/billing")
    ids = re.findall(r'<a href="/console/billing/invoices/([^"]+)">', first.text)
    assert ids == [f"in_{owner.tenant_id}_{i:02d}" for i in range(22, 2, -1)]  # newest first
    assert "Page 1 of 2 (23 in all)" in first.text
    second = await console.get("/console/billing?page=2")
    ids = re.findall(r'<a href="/console/billing/invoices/([^"]+)">', second.text)
    assert ids == [f"in_{owner.tenant_id}_{i:02d}" for i in (2, 1, 0)]
    assert (await console.get("/console/billing?page=abc")).status_code == 400

    mine = await console.get(f"/console/billing/invoices/in_{owner.tenant_id}_05")
    assert mine.status_code == 200
    assert format_amount(105, "EUR") in mine.text
    theirs = await console.get(f"/console/billing/invoices/in_{stranger.tenant_id}")
    assert theirs.status_code == 404
    assert "Not found" in theirs.text
    assert "9.99 EUR" not in theirs.text
    assert (await console.get("/console/billing/invoices/in_nothing")).status_code == 404

    # REST answers the same, through the same use case.
    async with httpx.AsyncClient(base_url=site.server.url) as api:
        listed = await api.get("/api/assinatura/faturas?limite=5&offset=20", headers=owner.bearer)
        assert listed.status_code == 200
        assert [i["id"] for i in listed.json()["items"]] == [f"in_{owner.tenant_id}_{i:02d}" for i in (2, 1, 0)]
        assert listed.json()["total"] == 23
        other = await api.get(f"/api/assinatura/faturas/in_{stranger.tenant_id}", headers=owner.bearer)
        assert (other.status_code, other.json()["code"]) == (404, "invoice_not_found")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
async def test_who_may_not_pay_sees_no_write_controls_and_is_refused(site: Site, role: Role) -> None:
    plan = await site.plan()
    owner = await site.accounts.tenant_owner()
    someone = await site.accounts.member(owner.tenant_id, role)
    console = await _signed_in(site, someone)
    page = await console.get("/console/billing")
    assert page.status_code == 200
    assert plan.name in page.text  # the catalogue is public
    assert "<form" not in page.text.split('<main id="main"', 1)[1]  # no write control at all
    if role is Role.ADMIN:  # billing:read: the subscription and invoices, read-only
        assert 'id="subscription"' in page.text
        assert "No invoices yet." in page.text
        assert 'href="/console/billing"' in page.text
    else:
        assert "Your role does not show this tenant's subscription" in page.text
        assert 'href="/console/billing"' not in page.text  # no nav link either
    checkout = {"plan": plan.code, "currency": "EUR", "interval": "month"}
    before = len(site.recorder.calls("POST", "/v1/checkout/sessions"))
    for path, data in (
        ("/console/billing/checkout", checkout),
        ("/console/billing/portal", None),
        ("/console/billing/cancel", None),
    ):
        refused = await console.post(path, data)
        assert refused.status_code == 403, (path, refused.text)
        assert "Not allowed" in refused.text
    assert len(site.recorder.calls("POST", "/v1/checkout/sessions")) == before
    assert (await console.get("/console/admin/finance")).status_code == 403


async def test_forged_billing_posts_are_refused(site: Site) -> None:
    plan = await site.plan()
    owner = await site.accounts.tenant_owner()
    console = await _signed_in(site, owner)
    await console.get("/console/billing")
    checkout = {"plan": plan.code, "currency": "EUR", "interval": "month"}
    before = len(site.recorder.calls("POST", "/v1/checkout/sessions"))
    assert (await console.post("/console/billing/checkout", checkout, csrf="forged")).status_code == 403
    assert (await console.post("/console/billing/checkout", checkout, csrf=None)).status_code == 403
    elsewhere = await console.post("/console/billing/checkout", checkout, origin="https://evil.example")
    assert elsewhere.status_code == 403
    assert (await console.post("/console/billing/cancel", origin=None)).status_code == 403
    assert len(site.recorder.calls("POST", "/v1/checkout/sessions")) == before
    anonymous = site.console()
    assert (await anonymous.get("/console/billing")).status_code == 303
    assert (await anonymous.get("/console/admin/finance")).status_code == 303


def _marks(page: str, chart_id: str) -> list[tuple[str, str, float]]:
    svg = page.split(f'id="{chart_id}"', 1)[1].split("</svg>", 1)[0]
    return [(kind, label, float(value)) for kind, label, value in _MARK.findall(svg)]


async def test_finance_draws_the_seeded_figures(tmp_path: Path) -> None:
    """A server of its own: the only invoices and subscriptions are the ones seeded here."""
    async with database_url("sqlite", tmp_path) as url, live_server(support.test_settings(tmp_path, url)) as server:
        assert await server.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        accounts = Accounts(server.uc)
        owner = await accounts.tenant_owner()
        now = datetime.now(UTC)
        starts = month_starts(now)
        months = [m.strftime("%Y-%m") for m in starts[:-1]]
        # Paid invoices: two in one month (summed), one in another, one in CHF; one outside the year.
        paid = [
            (1900, starts[3] + timedelta(days=2), "EUR"),
            (2500, starts[3] + timedelta(days=9), "EUR"),
            (1900, starts[10] + timedelta(hours=5), "EUR"),
            (12000, starts[6] + timedelta(days=1), "CHF"),
            (7777, starts[0] - timedelta(days=40), "EUR"),
        ]
        long_ago = starts[0] - timedelta(days=60)
        ended = starts[8] + timedelta(days=3)
        subs = [  # (amount, interval, status, ended_at)
            (1900, Interval.MONTH, SubscriptionStatus.ACTIVE, None),
            (24000, Interval.YEAR, SubscriptionStatus.ACTIVE, None),
            (1500, Interval.MONTH, SubscriptionStatus.CANCELED, ended),
        ]
        async with server.uc.ports.uow() as uow:
            await uow.subscriptions.add_customer(
                BillingCustomer(tenant_id=owner.tenant_id, customer_id="cus_fin", created_at=long_ago)
            )
            for n, (amount, at, currency) in enumerate(paid):
                await uow.invoices.put(_invoice(f"in_fin_{n}", owner.tenant_id, "cus_fin", amount, at, currency))
            for n, (amount, interval, status, end) in enumerate(subs):
                await uow.subscriptions.put(
                    Subscription(
                        id=f"sub_fin_{n}",
                        tenant_id=owner.tenant_id,
                        customer_id="cus_fin",
                        plan_id=None,
                        price_id=None,
                        status=status,
                        currency="EUR",
                        interval=interval,
                        amount=amount,
                        current_period_end=None,
                        cancel_at_period_end=False,
                        started_at=long_ago,
                        ended_at=end,
                        as_of=long_ago,
                        updated_at=long_ago,
                    )
                )
            await uow.commit()

        transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
        async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20.0) as http:
            owner_console = ConsoleClient(http)
            await owner_console.sign_in(owner.email, PASSWORD)
            refused = await owner_console.get("/console/admin/finance")
            assert refused.status_code == 403
            assert "Not allowed" in refused.text
            assert "data-value" not in refused.text
            assert (await owner_console.get("/console/admin/finance/invoices")).status_code == 403
            assert 'href="/console/admin"' not in (await owner_console.get("/console/")).text
        transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
        async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20.0) as http:
            admin = ConsoleClient(http)
            await admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
            page = await admin.get("/console/admin/finance")
            listed = await admin.get("/console/admin/finance/invoices?currency=eur&status=paid")
            chf = await admin.get("/console/admin/finance/invoices?currency=CHF")
            wrong = [await admin.get(f"/console/admin/finance/invoices?{q}") for q in ("status=lost", "currency=EURO")]
        # Invoices of every tenant, filtered in the URL by the use case.
        shown = re.findall(r"<td><code>(in_fin_\d)</code></td>", listed.text)
        assert sorted(shown) == [f"in_fin_{n}" for n, (_, _, cur) in enumerate(paid) if cur == "EUR"]
        assert re.findall(r"<td><code>(in_fin_\d)</code></td>", chf.text) == ["in_fin_3"]
        assert [r.status_code for r in wrong] == [400, 400]
        assert page.status_code == 200, page.text
        assert 'href="/console/admin" aria-current="page">Admin' in page.text  # finance is one of the admin pages

        # Revenue: a column per month of the year, each the sum of that month's seeded invoices.
        for currency in ("EUR", "CHF"):
            expected: dict[str, float] = defaultdict(float)
            for amount, at, cur in paid:
                if cur == currency and starts[0] <= at < starts[-1]:
                    expected[at.strftime("%Y-%m")] += amount
            marks = _marks(page.text, f"revenue-{currency.lower()}")
            assert [(k, label) for k, label, _ in marks] == [("rect", m) for m in months]
            assert {label: value for _, label, value in marks} == {m: expected.get(m, 0.0) for m in months}
            top = format_amount(round(max(expected.values())), currency)  # the scale: the highest month
            assert (
                f'<text class="label" x="0" y="20">{top}</text>'
                in page.text.split(f'id="revenue-{currency.lower()}"')[1]
            )
        heights = re.findall(r'<rect class="mark" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', page.text)
        assert heights  # the tallest column of a chart fills its plot
        assert max(float(h) for h in heights) == 180.0
        assert f"<title>{months[3]}: {format_amount(4400, 'EUR')} from 2 paid invoices</title>" in page.text

        # MRR: the live subscriptions, a yearly price counting a twelfth.
        mrr = sum(a if i is Interval.MONTH else a / 12 for a, i, st, _ in subs if st is SubscriptionStatus.ACTIVE)
        assert _marks(page.text, "mrr") == [("rect", "EUR", round(mrr))]

        # Churn: a point per month; the month the subscription ended loses one of the three live at its start.
        points = _marks(page.text, "churn")
        assert [(k, label) for k, label, _ in points] == [("circle", m) for m in months]
        live = len(subs)
        rates = []
        for since, until in itertools.pairwise(starts):
            gone = sum(1 for *_, end in subs if end is not None and since <= end < until)
            rates.append(round(gone / live, 4) if live else 0.0)
            live -= gone
        assert [value for *_, value in points] == rates
        assert '<svg class="chart chart-line" id="churn"' in page.text
        assert 'role="img" aria-labelledby="churn-title churn-desc"' in page.text
        assert "style=" not in page.text  # the CSP allows no inline style
