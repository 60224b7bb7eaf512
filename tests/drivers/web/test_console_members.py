"""The members, invitations, accept and tenant pages over a real socket: an owner invites (the link shown
once), a newcomer creates their account from the link, someone with an account accepts signed in and switches
tenant (the session rotates), the wrong account is refused, a viewer sees no write controls and the server
refuses the writes anyway, an admin is never offered the owner role, another tenant's member is a 404 page."""

from __future__ import annotations

import html
import re

from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import PASSWORD, Accounts, unique_email
from tests.drivers.web.conftest import COOKIE, ConsoleClient

_LINK = re.compile(r'<code id="invite-link">([^<]+)</code>')


async def _invite(console: ConsoleClient, email: str, role: str = "member") -> str:
    await console.get("/console/invitations")
    created = await console.post("/console/invitations", {"email": email, "role": role})
    assert created.status_code == 303, created.text
    shown = await console.get(created.headers["location"])
    assert shown.headers["cache-control"] == "no-store"
    found = _LINK.search(shown.text)
    assert found, shown.text
    again = await console.get(created.headers["location"])
    assert "This link is gone" in again.text  # shown once
    assert found.group(1) not in again.text
    return html.unescape(found.group(1))


def _path(link: str) -> str:
    return link[link.index("/console/") :]


async def test_invite_sign_up_accept_and_switch_tenant(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner("Home")
    admin_console = ConsoleClient(clients())
    await admin_console.sign_in(owner.email, PASSWORD)

    newcomer = unique_email("new")
    link = await _invite(admin_console, newcomer, "member")
    pending = await admin_console.get("/console/invitations")
    assert newcomer in pending.text

    stranger = ConsoleClient(clients())
    page = await stranger.get(_path(link))
    assert page.status_code == 200
    assert "Create my account and join" in page.text
    token = _path(link).split("token=", 1)[1]
    short = await stranger.post("/console/invitations/sign-up", {"token": token, "password": "short"})
    assert short.status_code == 400
    made = await stranger.post("/console/invitations/sign-up", {"token": token, "password": "newcomer-pass-1"})
    assert made.status_code == 303
    assert "joined=1" in made.headers["location"]
    used = await stranger.post("/console/invitations/sign-up", {"token": token, "password": "newcomer-pass-1"})
    assert used.status_code == 409
    assert "already used" in used.text
    await stranger.sign_in(newcomer, "newcomer-pass-1")
    members = await admin_console.get("/console/members")
    assert newcomer in members.text

    # Someone with an account elsewhere accepts signed in, then switches to the tenant they joined.
    other = await accounts.tenant_owner("Away")
    link = await _invite(admin_console, other.email, "viewer")
    browser = ConsoleClient(clients())
    await browser.sign_in(other.email, PASSWORD)
    page = await browser.get(_path(link))
    assert "Accept the invitation" in page.text
    accepted = await browser.post("/console/invitations/accept", {"token": _path(link).split("token=", 1)[1]})
    assert accepted.status_code == 303
    tenants = await browser.get(accepted.headers["location"])
    assert 'id="joined"' in tenants.text
    before = browser.session
    switched = await browser.post("/console/tenants/switch", {"tenant_id": owner.tenant_id})
    assert switched.status_code == 303
    assert browser.session != before  # rotated
    overview = await browser.get("/console/")
    assert "Home" in overview.text
    assert "(viewer)" in overview.text
    stale = await clients().get("/console/", headers={"Cookie": f"{COOKIE}={before}"})
    assert stale.status_code == 303
    # not a member of that tenant: refused, whether it exists or not
    await browser.get("/console/tenants")
    assert (await browser.post("/console/tenants/switch", {"tenant_id": "0" * 26})).status_code == 403


async def test_the_accept_page_sends_no_referrer_and_its_forms_still_post(clients, accounts: Accounts) -> None:
    """The invitation's token is in the accept page's URL: the page sends no Referer anywhere (one
    Referrer-Policy, no-referrer: a second, same-origin, appended by the console would win). Under no-referrer
    a browser posts the page's forms with ``Origin: null``; its ``Sec-Fetch-Site: same-origin`` (which a page
    cannot forge) stands in for the origin then, the CSRF token still checked, and nothing else passes."""
    owner = await accounts.tenant_owner()
    console = ConsoleClient(clients())
    await console.sign_in(owner.email, PASSWORD)
    link = await _invite(console, unique_email("quiet"))
    token = _path(link).split("token=", 1)[1]
    stranger = ConsoleClient(clients())
    page = await stranger.get(_path(link))
    assert page.headers.get_list("referrer-policy") == ["no-referrer"]
    assert (await stranger.get("/console/login")).headers.get_list("referrer-policy") == ["same-origin"]
    await stranger.get(_path(link))
    form = {"token": token, "password": "newcomer-pass-1"}
    for cross in ({}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "none"}):
        refused = await stranger.post(
            "/console/invitations/sign-up", form, origin=None, headers={"Origin": "null", **cross}
        )
        assert refused.status_code == 403, cross
    same = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    forged = await stranger.post("/console/invitations/sign-up", form, origin=None, csrf="forged", headers=same)
    assert forged.status_code == 403
    made = await stranger.post("/console/invitations/sign-up", form, origin=None, headers=same)
    assert made.status_code == 303, made.text


async def test_the_wrong_account_cannot_accept(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    console = ConsoleClient(clients())
    await console.sign_in(owner.email, PASSWORD)
    link = await _invite(console, unique_email("someone"))
    intruder = await accounts.tenant_owner("Intruder")
    browser = ConsoleClient(clients())
    await browser.sign_in(intruder.email, PASSWORD)
    await browser.get(_path(link))
    refused = await browser.post("/console/invitations/accept", {"token": _path(link).split("token=", 1)[1]})
    assert refused.status_code == 403
    assert "another email address" in refused.text
    forged = await browser.post("/console/invitations/accept", {"token": "nope.nope"})
    assert forged.status_code == 404


async def test_a_viewer_sees_no_member_controls_and_is_refused(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    console = ConsoleClient(clients())
    await console.sign_in(viewer.email, PASSWORD)
    page = await console.get("/console/members")
    assert page.status_code == 200
    assert viewer.email in page.text
    assert "Change role" not in page.text
    assert "Remove" not in page.text
    assert "Invite someone" not in page.text
    invitations = await console.get("/console/invitations")
    assert 'id="new-invitation"' not in invitations.text
    assert (await console.post("/console/invitations", {"email": unique_email(), "role": "viewer"})).status_code == 403
    assert (await console.post(f"/console/members/{owner.user_id}/role", {"role": "viewer"})).status_code == 403
    assert (await console.post(f"/console/members/{owner.user_id}/remove")).status_code == 403


async def test_an_admin_is_offered_no_owner_role_and_cannot_touch_owners(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    admin = await accounts.member(owner.tenant_id, Role.ADMIN)
    theirs = await accounts.tenant_owner("Theirs")
    console = ConsoleClient(clients())
    await console.sign_in(admin.email, PASSWORD)
    page = await console.get("/console/invitations")
    assert set(re.findall(r'<option value="(\w+)"', page.text)) == {"admin", "member", "viewer"}
    forged = await console.post("/console/invitations", {"email": unique_email(), "role": "owner"})
    assert forged.status_code == 403
    members = await console.get("/console/members")
    assert f'action="/console/members/{owner.user_id}/role"' not in members.text
    assert (await console.post(f"/console/members/{owner.user_id}/remove")).status_code == 403
    missing = await console.post(f"/console/members/{theirs.user_id}/role", {"role": "viewer"})
    assert missing.status_code == 404
    assert "Not found" in missing.text
