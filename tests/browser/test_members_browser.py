"""Members, invitations and the tenant switcher in a real browser: an owner invites someone (the link shown
once, gone on reload), the invited person opens it in their own browser (a page that sends no referrer, its
token being in its URL), creates the account and signs in; the
owner changes their role; a person in two tenants switches (the session cookie changes); a viewer sees no write
controls and the server refuses the writes anyway. Every page visited is checked for CSP violations and
off-host requests, and measured against the budgets."""

from __future__ import annotations

from typing import Any

from tesserra_core.domain.identity import Role
from tesserra_core.usecases.members import InvitationToken, NewInvitation
from tests.browser.conftest import BUDGETS, MEASURED, Tab, open_tab
from tests.drivers.http.conftest import PASSWORD, Accounts, unique_email
from tests.support import LiveServer

COOKIE = "__Host-tesserra_console"


def _within_budgets(since: int) -> None:
    for name, measured in MEASURED[since:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)


async def test_invite_a_newcomer_who_signs_up_then_change_their_role(
    tab: Tab, chromium: Any, people: Accounts, site: LiveServer
) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit("/console/members", "members")
    await tab.visit("/console/invitations", "invitations")
    newcomer = unique_email("new")
    await page.fill("#invite-email", newcomer)
    await page.select_option("#invite-role", "member")
    async with page.expect_navigation():
        await page.click("#new-invitation button[type=submit]")
    link = (await page.text_content("#invite-link") or "").strip()
    assert "/console/invitations/accept?token=" in link
    assert await tab.csp_violations() == []
    await page.reload()
    assert await page.is_visible("text=This link is gone")
    assert link not in await page.content()

    async with open_tab(chromium, site) as theirs:
        opened = await theirs.visit(link.removeprefix(theirs.origin), "accept (new account)")
        assert await opened.header_value("referrer-policy") == "no-referrer"  # the token is in this URL
        await theirs.page.fill("#signup-password", "newcomer-pass-1")
        async with theirs.page.expect_navigation(), theirs.page.expect_request("**/invitations/sign-up") as posted:
            await theirs.page.click("text=Create my account and join")
        sent = await (await posted.value).all_headers()
        assert "referer" not in sent
        assert sent.get("origin") == "null"  # no-referrer: the console trusts Sec-Fetch-Site instead
        assert await theirs.page.is_visible("#joined")
        await theirs.sign_in(newcomer, "newcomer-pass-1")
        await theirs.visit("/console/tenants", "tenants")

    await tab.visit("/console/members", "members (two)")
    row = page.locator("tr", has_text=newcomer)
    await row.locator("select").select_option("viewer")
    async with page.expect_navigation():
        await row.locator("button", has_text="Change role").click()
    assert await page.locator("tr", has_text=newcomer).locator("td").nth(2).text_content() == "viewer"
    assert await tab.csp_violations() == []
    _within_budgets(before)


async def test_switching_tenant_rotates_the_session(tab: Tab, people: Accounts, site: LiveServer) -> None:
    home, away = await people.tenant_owner("Home"), await people.tenant_owner("Away")
    admin = await site.uc.authenticate(away.access)
    invited = await site.uc.members.invite(admin, NewInvitation(email=home.email, role=Role.ADMIN))
    accepted = await site.uc.members.accept(
        await site.uc.authenticate(home.access), InvitationToken(token=invited.token)
    )
    assert accepted.role is Role.ADMIN
    await tab.sign_in(home.email, PASSWORD)
    page = tab.page
    before = (await page.context.cookies())[0]["value"]
    await tab.visit("/console/tenants", "tenants (two)")
    async with page.expect_navigation():
        await page.click("text=Switch to")
    after = await page.context.cookies()
    assert [c["name"] for c in after] == [COOKIE]
    assert after[0]["value"] != before
    assert "(admin)" in await page.content()
    assert await tab.csp_violations() == []


async def test_a_viewer_sees_no_member_controls_and_the_server_refuses_them(tab: Tab, people: Accounts) -> None:
    owner = await people.tenant_owner()
    viewer = await people.member(owner.tenant_id, Role.VIEWER)
    await tab.sign_in(viewer.email, PASSWORD)
    page = tab.page
    await tab.visit("/console/members", "members (viewer)")
    assert await page.locator("form[method=post][action*='/console/members/']").count() == 0
    assert await page.locator("text=Invite someone").count() == 0
    await tab.visit("/console/invitations", "invitations (viewer)")
    assert await page.locator("#new-invitation").count() == 0
    csrf = await page.get_attribute("form.signout input[name=csrf]", "value")
    for path, form in (
        ("/console/invitations", {"email": unique_email(), "role": "viewer"}),
        (f"/console/members/{owner.user_id}/role", {"role": "viewer"}),
        (f"/console/members/{owner.user_id}/remove", {}),
    ):
        forged = await page.request.post(
            f"{tab.origin}{path}", form={**form, "csrf": csrf or ""}, headers={"Origin": tab.origin}
        )
        assert forged.status == 403, path
        assert "Not allowed" in await forged.text()
