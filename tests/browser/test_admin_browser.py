"""The platform administrators' pages in a real browser: each clean (no CSP violation, no request off this
host) and within budget, the Admin link shown to administrators only, and a plan created through the form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tesserra_core.domain.billing import Interval
from tesserra_core.usecases.agents import NewAgent
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice
from tesserra_core.usecases.tenants import NewTenant
from tests.browser.conftest import Tab
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Accounts
from tests.support import LiveServer


@dataclass(frozen=True)
class AdminScene:
    pages: list[tuple[str, str]]
    """Each admin page's path and a name for its screenshot."""


async def admin_scene(site: LiveServer, people: Accounts) -> AdminScene:
    """A tenant, a plan with a price and a platform agent, made through the use cases; the pages showing them."""
    admin = await people.admin_principal()
    tag = uuid.uuid4().hex[:8]
    tenant = await site.uc.tenants.create(admin, NewTenant(name=f"Admin scene {tag}"))
    plan = await site.uc.plans.create(
        admin,
        NewPlan(
            code=f"scene-{tag}", name="Scene", prices=[NewPrice(currency="EUR", interval=Interval.MONTH, amount=900)]
        ),
    )
    agent = await site.uc.agents.create(
        admin, NewAgent(id=f"scene-{tag}", vertical="support", name="Scene agent", instructions="Answer briefly.")
    )
    return AdminScene(
        [
            ("/console/admin", "admin"),
            ("/console/admin/tenants", "admin-tenants"),
            (f"/console/admin/tenants/{tenant.id}", "admin-tenant"),
            ("/console/admin/plans", "admin-plans"),
            (f"/console/admin/plans/{plan.id}", "admin-plan"),
            ("/console/admin/agents", "admin-agents"),
            (f"/console/admin/agents/{agent.id}", "admin-agent"),
        ]
    )


async def test_every_admin_page_is_clean_and_within_budget(tab: Tab, people: Accounts, site: LiveServer) -> None:
    scene = await admin_scene(site, people)
    await tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert await tab.page.locator("nav a[href='/console/admin']").count() == 1
    for path, name in scene.pages:
        response = await tab.visit(path, name)
        assert response.status == 200, path
    await tab.visit("/console/admin/plans")
    await tab.page.click("text=Create a plan")
    code = f"browser-{uuid.uuid4().hex[:8]}"
    await tab.page.fill("#plan-code", code)
    await tab.page.fill("#plan-name", "Browser plan")
    await tab.page.fill("#limit-projects", "4")
    await tab.page.fill("#price-currency", "EUR")
    await tab.page.fill("#price-amount", "1500")
    async with tab.page.expect_navigation():
        await tab.page.click("#new-plan button[type=submit]")
    assert "/console/admin/plans/" in tab.page.url
    assert await tab.page.locator("h1").inner_text() == "Browser plan"
    assert await tab.page.locator("#limit-projects").input_value() == "4"
    assert await tab.csp_violations() == []


async def test_a_tenant_owner_sees_no_admin_link_and_gets_the_refusal_page(tab: Tab, people: Accounts) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    assert await tab.page.locator("nav a[href='/console/admin']").count() == 0
    response = await tab.visit("/console/admin/tenants")
    assert response.status == 403
    assert "platform administrators only" in await tab.page.content()
