"""Mail in a real browser: an owner adds a mailbox on a verified domain, reads its password once (gone on reload,
never in browser storage), adds an alias; a viewer sees no write controls and the server refuses the writes
anyway; another tenant's mailbox is the 404 page. Every page visited is checked for CSP violations and off-host
requests, and measured against the budgets."""

from __future__ import annotations

from tesserra_core.domain.identity import Role
from tesserra_core.usecases.mail import NewMailbox
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.web.test_console_mail import verified_domain
from tests.support import LiveServer


def _within_budgets(since: int) -> None:
    for name, measured in MEASURED[since:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)


async def test_a_mailbox_password_is_shown_once_then_an_alias(tab: Tab, people: Accounts, site: LiveServer) -> None:
    owner = await people.tenant_owner()
    name = await verified_domain(site, owner.tenant_id)
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit("/console/mailboxes", "mailboxes (empty)")
    await page.click("text=Add a mailbox")
    await page.fill("#mailbox-address", f"ana@{name}")
    async with page.expect_navigation():
        await page.click("#new-mailbox button[type=submit]")
    assert page.url.endswith("/password")
    secret = (await page.text_content("#secret") or "").strip()
    assert len(secret) >= 20
    assert await tab.csp_violations() == []
    storage = await page.evaluate("JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage}])")
    assert secret not in storage
    await page.reload()
    assert await page.is_visible("text=This password is gone")
    assert secret not in await page.content()
    mailbox_path = page.url.removeprefix(tab.origin).removesuffix("/password")
    await tab.visit(mailbox_path, "mailbox")
    assert secret not in await page.content()
    await tab.visit("/console/mailboxes", "mailboxes")
    assert await page.locator(f"a:has-text('ana@{name}')").count() == 1

    await tab.visit("/console/aliases", "aliases (empty)")
    await page.click("text=Add an alias")
    await page.fill("#alias-source", f"sales@{name}")
    await page.fill("#alias-destinations", f"ana@{name}\nbruno@example.org")
    async with page.expect_navigation():
        await page.click("#new-alias button[type=submit]")
    await tab.visit(page.url.removeprefix(tab.origin), "alias")
    assert await page.is_visible("text=bruno@example.org")
    await tab.visit("/console/aliases", "aliases")
    _within_budgets(before)


async def test_a_viewer_sees_no_mail_controls_and_the_server_refuses_them(
    tab: Tab, people: Accounts, site: LiveServer
) -> None:
    owner = await people.tenant_owner()
    name = await verified_domain(site, owner.tenant_id)
    actor = await site.uc.authenticate(owner.access)
    mailbox = await site.uc.mail.create_mailbox(actor, NewMailbox(address=f"ana@{name}", password="long-enough-pw-1"))
    viewer = await people.member(owner.tenant_id, Role.VIEWER)
    await tab.sign_in(viewer.email, PASSWORD)
    page = tab.page
    await tab.visit("/console/mailboxes", "mailboxes (viewer)")
    assert await page.locator("#new-mailbox").count() == 0
    await tab.visit(f"/console/mailboxes/{mailbox.id}", "mailbox (viewer)")
    assert await page.locator("#reset, #delete").count() == 0
    csrf = await page.get_attribute("form.signout input[name=csrf]", "value")
    for path, form in (
        ("/console/mailboxes", {"address": f"sneaky@{name}"}),
        (f"/console/mailboxes/{mailbox.id}/password", {}),
        ("/console/aliases", {"source": f"sneaky@{name}", "destinations": "a@x.org"}),
    ):
        forged = await page.request.post(
            f"{tab.origin}{path}", form={**form, "csrf": csrf or ""}, headers={"Origin": tab.origin}
        )
        assert forged.status == 403, path
        assert "Not allowed" in await forged.text()


async def test_another_tenants_mailbox_is_the_404_page(tab: Tab, people: Accounts, site: LiveServer) -> None:
    mine, theirs = await people.tenant_owner(), await people.tenant_owner()
    name = await verified_domain(site, theirs.tenant_id)
    mailbox = await site.uc.mail.create_mailbox(
        await site.uc.authenticate(theirs.access), NewMailbox(address=f"ceo@{name}", password="long-enough-pw-1")
    )
    await tab.sign_in(mine.email, PASSWORD)
    response = await tab.visit(f"/console/mailboxes/{mailbox.id}", "mailbox (another tenant's)")
    assert response.status == 404
    assert await tab.page.is_visible("text=Not found")
    assert name not in await tab.page.content()
