"""Domains in a real browser: an owner adds a domain from the list's form, reads the TXT record to publish,
adds a zone record and deletes it (htmx, in place), filters the list (the filters land in the URL); a viewer
sees no write controls and the server refuses the writes anyway; another tenant's domain is the 404 page.
Every page visited is checked for CSP violations and off-host requests, and measured against the budgets."""

from __future__ import annotations

import uuid

from tesserra_core.domain.domains import RecordType
from tesserra_core.domain.identity import Role
from tesserra_core.usecases.domains import NewDomain
from tesserra_core.usecases.zones import NewDnsRecord
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.support import LiveServer


def _within_budgets(since: int) -> None:
    for name, measured in MEASURED[since:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)


async def test_add_a_domain_then_add_and_delete_a_record(tab: Tab, people: Accounts) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit("/console/domains", "domains (empty)")
    assert await page.is_visible("text=No domains yet")
    name = f"shop-{uuid.uuid4().hex[:8]}.example.com"
    await page.click("text=Add a domain")
    await page.fill("#domain-name", name)
    async with page.expect_navigation():
        await page.click("#new-domain button[type=submit]")
    assert "/console/domains/" in page.url
    path = page.url.removeprefix(tab.origin)
    await tab.visit(path, "domain")
    assert (await page.text_content("#verification") or "").strip() == "pending"
    assert await page.is_visible(f"text=_tesserra-challenge.{name}")

    await page.click("text=Add a record")
    await page.fill("#record-name", "www")
    await page.select_option("#record-type", "A")
    await page.fill("#record-data", "203.0.113.7")
    async with page.expect_navigation():
        await page.click("#new-record button[type=submit]")
    row = page.locator("tr", has_text="203.0.113.7")
    assert await row.count() == 1
    await row.locator("button", has_text="Delete").click()  # htmx: the cell becomes "Deleted" in place
    await row.locator("text=Deleted").wait_for()
    assert await tab.csp_violations() == []
    await tab.visit(path, "domain (record deleted)")
    assert await page.locator("text=203.0.113.7").count() == 0

    await tab.visit("/console/domains", "domains")
    await page.fill("#q", "shop")
    await page.select_option("#status", "pending")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    assert "q=shop" in page.url
    assert "status=pending" in page.url
    assert await page.locator(f"a:has-text('{name}')").count() == 1
    assert await tab.csp_violations() == []
    _within_budgets(before)


async def test_a_viewer_sees_no_domain_controls_and_the_server_refuses_them(
    tab: Tab, people: Accounts, site: LiveServer
) -> None:
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    domain = await site.uc.domains.create(actor, NewDomain(name=f"v-{uuid.uuid4().hex[:8]}.example.com"))
    record = await site.uc.zones.create_record(
        actor, domain.id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.9")
    )
    viewer = await people.member(owner.tenant_id, Role.VIEWER)
    await tab.sign_in(viewer.email, PASSWORD)
    page = tab.page
    await tab.visit("/console/domains", "domains (viewer)")
    assert await page.locator("#new-domain").count() == 0
    await tab.visit(f"/console/domains/{domain.id}", "domain (viewer)")
    assert await page.locator("text=192.0.2.9").count() == 1
    assert await page.locator("form[method=post][action*='/console/domains/']").count() == 0
    csrf = await page.get_attribute("form.signout input[name=csrf]", "value")
    base = f"/console/domains/{domain.id}"
    for path, form in (
        ("/console/domains", {"name": f"x-{uuid.uuid4().hex[:8]}.example.com"}),
        (f"{base}/records", {"name": "evil", "type": "A", "data": "192.0.2.66"}),
        (f"{base}/records/{record.id}/delete", {}),
        (f"{base}/verify", {}),
    ):
        forged = await page.request.post(
            f"{tab.origin}{path}", form={**form, "csrf": csrf or ""}, headers={"Origin": tab.origin}
        )
        assert forged.status == 403, path
        assert "Not allowed" in await forged.text()


async def test_another_tenants_domain_is_the_404_page(tab: Tab, people: Accounts, site: LiveServer) -> None:
    mine, theirs = await people.tenant_owner(), await people.tenant_owner()
    actor = await site.uc.authenticate(theirs.access)
    domain = await site.uc.domains.create(actor, NewDomain(name=f"s-{uuid.uuid4().hex[:8]}.example.com"))
    await tab.sign_in(mine.email, PASSWORD)
    response = await tab.visit(f"/console/domains/{domain.id}", "domain (another tenant's)")
    assert response.status == 404
    assert await tab.page.is_visible("text=Not found")
    assert domain.name not in await tab.page.content()
