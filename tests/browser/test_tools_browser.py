"""The marketplace and installations in a real browser: an owner searches (the filters land in the URL), opens a
tool, installs it with a secret setting (never shown again), watches the status turn ready (htmx polling, then
a reload), and calls a tool whose result, HTML in it, stays text; a viewer sees no write controls and the server
refuses the writes anyway; another tenant's installation is the 404 page. Every page visited is checked for CSP
violations and off-host requests, and measured against the budgets."""

from __future__ import annotations

import json

from tesserra_core.domain.identity import Role
from tesserra_core.domain.tools import InstallScope
from tesserra_core.usecases.installations import InstallRequest
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.support import LiveServer

PROBE = "test.tesserra-probe"
SECRET = "tok-BROWSER-5a4b3c2d1e-never-shown"
HOSTILE = "<img src=x onerror=alert(1)>"


def _within_budgets(since: int) -> None:
    for name, measured in MEASURED[since:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)


async def test_search_install_with_a_secret_then_call_a_tool(tab: Tab, people: Accounts) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit("/console/marketplace", "marketplace")
    await page.fill("#q", "probe")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    assert "q=probe" in page.url
    async with page.expect_navigation():
        await page.click(f"a[href='/console/marketplace/{PROBE}']")
    await tab.visit(f"/console/marketplace/{PROBE}", "marketplace tool")
    secret_field = page.locator("input[name='config.PROBE_TOKEN']")
    assert await secret_field.get_attribute("type") == "password"
    await secret_field.fill(SECRET)
    async with page.expect_navigation():
        await page.click("#install button[type=submit]")
    assert "/console/installations/" in page.url
    path = page.url.removeprefix(tab.origin)
    await page.locator("#status .status-ready").wait_for(timeout=60_000)  # polled, then the page reloads
    assert SECRET not in await page.content()
    assert await tab.csp_violations() == []
    await tab.visit(path, "installation")
    assert await page.is_visible("text=set (secret, never shown)")

    await page.select_option("#call-name", "echo")
    await page.fill("#call-arguments", json.dumps({"text": HOSTILE}))
    async with page.expect_navigation():
        await page.click("#call button[type=submit]")
    assert (await page.text_content("#result pre") or "") == HOSTILE
    assert await page.locator("#result img").count() == 0
    assert await page.evaluate("window.__cspViolations.length") == 0
    await tab.visit("/console/installations", "installations")
    assert await page.locator(f"a[href='{path}']").count() == 1
    assert SECRET not in await page.content()
    _within_budgets(before)


async def test_a_viewer_sees_no_tool_controls_and_the_server_refuses_them(
    tab: Tab, people: Accounts, site: LiveServer
) -> None:
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    installed = await site.uc.installations.install(
        actor, PROBE, InstallRequest(config={"PROBE_TOKEN": "t"}, scope=InstallScope.TENANT)
    )
    viewer = await people.member(owner.tenant_id, Role.VIEWER)
    await tab.sign_in(viewer.email, PASSWORD)
    page = tab.page
    await tab.visit(f"/console/marketplace/{PROBE}", "marketplace tool (viewer)")
    assert await page.locator("#install").count() == 0
    await tab.visit(f"/console/installations/{installed.id}", "installation (viewer)")
    assert await page.locator("#call").count() == 0
    csrf = await page.get_attribute("form.signout input[name=csrf]", "value")
    for path, form in (
        (f"/console/marketplace/{PROBE}/install", {"config.PROBE_TOKEN": "t"}),
        (f"/console/installations/{installed.id}/call", {"name": "echo", "arguments": '{"text": "hi"}'}),
    ):
        forged = await page.request.post(
            f"{tab.origin}{path}", form={**form, "csrf": csrf or ""}, headers={"Origin": tab.origin}
        )
        assert forged.status == 403, path
        assert "Not allowed" in await forged.text()


async def test_another_tenants_installation_is_the_404_page(tab: Tab, people: Accounts, site: LiveServer) -> None:
    mine, theirs = await people.tenant_owner(), await people.tenant_owner()
    installed = await site.uc.installations.install(
        await site.uc.authenticate(theirs.access),
        PROBE,
        InstallRequest(config={"PROBE_TOKEN": "t"}, scope=InstallScope.TENANT),
    )
    await tab.sign_in(mine.email, PASSWORD)
    response = await tab.visit(f"/console/installations/{installed.id}", "installation (another tenant's)")
    assert response.status == 404
    assert await tab.page.is_visible("text=Not found")
