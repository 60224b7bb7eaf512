"""Billing and admin finance in a real browser: the pages load with no CSP violation and no request off this
host within the budgets; the finance charts are drawn (inline SVG, coloured by the theme: the bars change with
light and dark); axe-core finds no serious or critical violation on the billing, invoice and finance pages in
light and dark themes and at 320 px; a viewer sees no billing write control."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tesserra_core.domain.billing import Interval, Invoice, Subscription, SubscriptionStatus
from tesserra_core.domain.identity import Role
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.browser.test_accessibility import SCREENSHOTS, VIEWS
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Accounts
from tests.support import LiveServer, missing


@pytest.fixture(scope="module")
async def invoice(site: LiveServer, people: Accounts) -> str:
    """A plan in the catalogue, three paid invoices of the administrator's tenant, a live and an ended
    subscription of another tenant; the newest invoice's id."""
    admin = await people.admin_principal()
    await site.uc.plans.create(
        admin,
        NewPlan(
            code=f"team-{uuid.uuid4().hex[:6]}",
            name="Team",
            description="For small teams",
            prices=[NewPrice(currency="EUR", interval=Interval.MONTH, amount=4900)],
        ),
    )
    payer = await people.tenant_owner("Payer")  # a tenant of its own: the administrator's plan stays as it is
    now = datetime.now(UTC)
    newest = ""
    async with site.uc.ports.uow() as uow:
        for n, (amount, days) in enumerate(((4900, 70), (4900, 40), (9800, 5))):
            paid = now - timedelta(days=days)
            newest = f"in_browser_{uuid.uuid4().hex[:8]}_{n}"
            await uow.invoices.put(
                Invoice(
                    id=newest,
                    customer_id="cus_browser",
                    subscription_id=None,
                    status="paid",
                    currency="EUR",
                    amount_due=amount,
                    amount_paid=amount,
                    created_at=paid,
                    paid_at=paid,
                    tenant_id=admin.tenant_id,
                    as_of=paid,
                )
            )
        for n, status in enumerate((SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED)):
            await uow.subscriptions.put(
                Subscription(
                    id=f"sub_browser_{uuid.uuid4().hex[:8]}_{n}",
                    tenant_id=payer.tenant_id,
                    customer_id="cus_payer",
                    plan_id=None,
                    price_id=None,
                    status=status,
                    currency="EUR",
                    interval=Interval.MONTH,
                    amount=4900,
                    current_period_end=None,
                    cancel_at_period_end=False,
                    started_at=now - timedelta(days=200),
                    ended_at=now - timedelta(days=20) if status is SubscriptionStatus.CANCELED else None,
                    as_of=now,
                    updated_at=now,
                )
            )
        await uow.commit()
    return newest


async def test_billing_and_finance_pages_are_clean_and_the_charts_follow_the_theme(tab: Tab, invoice: str) -> None:
    await tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    before = len(MEASURED)
    await tab.visit("/console/billing", "billing")
    assert await tab.page.is_visible("text=Team")
    await tab.visit(f"/console/billing/invoices/{invoice}", "invoice")
    assert await tab.page.is_visible("text=98.00 EUR")
    await tab.visit("/console/admin/finance/invoices", "admin invoices")
    assert await tab.page.locator("#invoices tbody tr").count() >= 3
    await tab.visit("/console/admin/finance", "admin finance")
    chart = tab.page.locator("svg#revenue-eur")
    box = await chart.bounding_box()
    assert box is not None
    assert box["width"] > 200
    assert box["height"] > 50
    columns = chart.locator("rect.mark")
    assert await columns.count() == 12
    assert await tab.csp_violations() == []
    for name, measured in MEASURED[before:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)

    fills = {}
    for scheme in ("light", "dark"):
        await tab.page.emulate_media(color_scheme=scheme)
        fills[scheme] = await columns.first.evaluate("(el) => getComputedStyle(el).fill")
        text = await chart.locator("text.label").first.evaluate("(el) => getComputedStyle(el).fill")
        background = await tab.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert text != background
    assert fills["light"] != fills["dark"]  # custom properties of console.css, not colours in the markup


async def test_a_viewer_sees_no_billing_write_control(tab: Tab, people: Accounts, site: LiveServer) -> None:
    owner = await people.tenant_owner()
    viewer = await people.member(owner.tenant_id, Role.VIEWER)
    await tab.sign_in(viewer.email, PASSWORD)
    await tab.visit("/console/billing", "billing (viewer)")
    assert await tab.page.locator("main form").count() == 0
    assert await tab.page.locator("nav a", has_text="Billing").count() == 0
    response = await tab.visit("/console/admin/finance", "admin finance (refused)")
    assert response.status == 403


@pytest.mark.parametrize("view", VIEWS)
async def test_no_serious_or_critical_violation_on_billing_pages(
    chromium: Any, site: LiveServer, invoice: str, view: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:
        missing("axe-playwright-python", "pip install axe-playwright-python (it ships axe-core)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = await chromium.new_context(bypass_csp=True, **view)
    try:
        page = await context.new_page()
        axe = Axe()
        found: dict[str, list[str]] = {}
        await page.goto(f"{site.url}/console/login")
        await page.fill("#email", ADMIN_EMAIL)
        await page.fill("#password", ADMIN_PASSWORD)
        async with page.expect_navigation():
            await page.click("form.stack button[type=submit]")
        for path, name in (
            ("/console/billing", "billing"),
            (f"/console/billing/invoices/{invoice}", "billing-invoice"),
            ("/console/admin/finance", "admin-finance"),
            ("/console/admin/finance/invoices?currency=EUR", "admin-finance-invoices"),
            ("/console/billing/continue", "billing-continue-gone"),
        ):
            await page.goto(f"{site.url}{path}")
            await page.screenshot(path=str(SCREENSHOTS / f"{request.node.callspec.id}-{name}.png"), full_page=True)
            results = await axe.run(page)
            bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
            if bad:
                found[path] = [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in bad]
        assert found == {}
    finally:
        await context.close()
