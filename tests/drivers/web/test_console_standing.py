"""Console sessions follow the person's standing: a password change ends their other console sessions (and
rotates this one), a role change rotates the session (new cookie value and CSRF token; the old value is dead),
and removing a member signs their console out. The sessions live in the shared store: only the SHA-256 of the
cookie's value is kept."""

from __future__ import annotations

import hashlib

from tesserra_core.domain.identity import Role
from tesserra_core.usecases.members import RoleChange
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.web.conftest import COOKIE, ConsoleClient


async def test_a_password_change_ends_the_users_other_console_sessions(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    here, there = ConsoleClient(clients()), ConsoleClient(clients())
    await here.sign_in(owner.email, PASSWORD)
    await there.sign_in(owner.email, PASSWORD)
    await here.get("/console/password")
    before = here.session
    changed = await here.post("/console/password", {"current": PASSWORD, "new": "a-new-password-1"})
    assert changed.status_code == 200
    assert here.session != before
    assert (await here.get("/console/")).status_code == 200
    assert (await there.get("/console/")).status_code == 303  # signed out
    stale = await clients().get("/console/", headers={"Cookie": f"{COOKIE}={before}"})
    assert stale.status_code == 303


async def test_a_role_change_rotates_the_session(clients, accounts: Accounts, server) -> None:
    owner = await accounts.tenant_owner()
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    browser = ConsoleClient(clients())
    await browser.sign_in(member.email, PASSWORD)
    before, csrf = browser.session, browser.csrf
    assert before is not None
    async with server.uc.ports.uow(read_only=True) as uow:
        stored = await uow.console_sessions.get(hashlib.sha256(before.encode()).hexdigest())
    assert stored is not None  # kept by its digest only
    assert stored.role is Role.MEMBER

    owner_actor = await server.uc.authenticate(owner.access)
    await server.uc.members.change_role(owner_actor, member.user_id, RoleChange(role=Role.VIEWER))
    page = await browser.get("/console/keys")
    assert page.status_code == 200
    assert browser.session != before  # a new cookie value came with the page
    assert browser.csrf != csrf
    stale = await clients().get("/console/", headers={"Cookie": f"{COOKIE}={before}"})
    assert stale.status_code == 303

    await server.uc.members.remove(owner_actor, member.user_id)
    assert (await browser.get("/console/")).status_code == 303


async def test_a_password_changed_over_rest_signs_the_console_out(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    browser = ConsoleClient(clients())
    await browser.sign_in(owner.email, PASSWORD)
    api = clients()
    body = {"current_password": PASSWORD, "new_password": "rest-changed-password-1"}
    changed = await api.post("/api/auth/password", json=body, headers=owner.bearer)
    assert changed.status_code == 204
    assert (await browser.get("/console/")).status_code == 303  # signed out
    assert (await api.get("/api/auth/me", headers=owner.bearer)).status_code == 200  # the changer's login lives
