"""Infra SSH in a real browser: a platform administrator approves another's lease with the keyboard only (the
page then shows it active, with its clock counting down), and every Infra SSH page is free of CSP violations
and off-host requests and within the budgets. The host here is unreachable (a closed port): the pages are
what is tested; the runs on a real sshd are in tests/drivers/web/test_console_infra_ssh.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from tesserra_core.domain.identity import Scope, Tier
from tesserra_core.errors import Forbidden, RemoteFailed
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.infra_ssh_lease_views import NewLease
from tesserra_core.usecases.infra_ssh_views import NewHost, NewRun
from tesserra_core.usecases.operators import NewAdmin
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.drivers.http.conftest import PASSWORD, sign_in, unique_email
from tests.drivers.web.test_console_infra_ssh import _admin_in
from tests.servers.sshd import KeyPair
from tests.support import LiveServer
from tests.unit.infra_ssh_support import ALL_ACTIONS

CLOSED_PORT = 1
"""Nothing listens on 127.0.0.1:1: a run there fails at once, unreachable."""


@dataclass(frozen=True)
class Scene:
    """A tenant of two platform administrators: a host, a pending lease of the asker, a failed run."""

    asker: str
    approver: str
    host_id: str
    lease_id: str
    run_id: str


async def infra_scene(site: LiveServer) -> Scene:
    uc, asker = site.uc, unique_email("asker")
    tenant = await uc.operators.create_admin(NewAdmin(email=asker, password=PASSWORD, tenant_name=asker[:20]))
    approver = await _admin_in(site, tenant.id)
    owner = await uc.authenticate((await sign_in(uc, asker, PASSWORD)).access)
    key = await uc.api_keys.generate(
        owner, NewApiKey(name="ops", scopes=[Scope.TOOLS_READ, Scope.TOOLS_WRITE], tier=Tier.ADMIN)
    )
    ops = await uc.authenticate(key.key, owner.user_id)  # the asker, over the API
    host = await uc.infra_ssh.add_host(
        ops,
        NewHost(
            name="db-1",
            address="127.0.0.1",
            port=CLOSED_PORT,
            login="ops",
            host_key=KeyPair.generate().public,
            private_key=KeyPair.generate().private.decode(),
            actions=ALL_ACTIONS,
            forwards=["127.0.0.1:5432"],
        ),
    )
    lease = await uc.infra_ssh.request_lease(
        ops, NewLease(host_ids=[host.id], actions=["touch_file"], reason="rotate <logs> & restart", max_uses=2)
    )
    with pytest.raises(Forbidden):  # refused (no active lease): one audit record
        await uc.infra_ssh.run_action(ops, NewRun(host_id=host.id, action="touch_file", parameters={"path": "/tmp/x"}))
    with pytest.raises(RemoteFailed) as failed:  # unreachable: a run with its page
        await uc.infra_ssh.run_action(ops, NewRun(host_id=host.id, action="echo", parameters={"message": "hi"}))
    assert failed.value.run_id is not None
    return Scene(asker, approver, host.id, lease.id, failed.value.run_id)


async def test_approve_a_lease_with_the_keyboard_only(tab: Tab, site: LiveServer) -> None:
    scene = await infra_scene(site)
    await tab.sign_in(scene.approver, PASSWORD)
    page = tab.page
    await tab.visit(f"/console/infra/leases/{scene.lease_id}", "infra lease (pending)")
    assert await page.text_content("#lease-state") == "pending"
    for _ in range(80):  # from the top of the page, Tab until the Approve button has the focus
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent.trim()") == "Approve":
            break
    else:
        raise AssertionError("the Approve button was never reached with Tab")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert page.url.endswith(f"/console/infra/leases/{scene.lease_id}")
    assert await page.text_content("#lease-state") == "active"
    first = await page.text_content("#lease-clock")
    await asyncio.sleep(2.2)
    assert await page.text_content("#lease-clock") != first  # the clock counts down
    assert await page.locator("#approve").count() == 0
    assert await tab.csp_violations() == []


async def test_every_infra_ssh_page_is_clean_and_within_budget(tab: Tab, site: LiveServer) -> None:
    scene = await infra_scene(site)
    await tab.sign_in(scene.approver, PASSWORD)
    before = len(MEASURED)
    for path, name in (
        ("/console/infra/hosts", "infra hosts"),
        (f"/console/infra/hosts/{scene.host_id}", "infra host"),
        ("/console/infra/leases", "infra leases"),
        ("/console/infra/leases/new", "infra ask for a lease"),
        (f"/console/infra/leases/{scene.lease_id}", "infra lease"),
        ("/console/infra/runs", "infra runs"),
        (f"/console/infra/runs/{scene.run_id}", "infra run"),
        ("/console/infra/forwards", "infra forwards"),
        ("/console/infra/audit?verify=1", "infra audit (verified)"),
    ):
        response = await tab.visit(path, name)
        assert response.status == 200, path
    assert (await tab.page.text_content("#verification") or "").startswith("The chain verifies")
    await tab.visit(f"/console/infra/leases/{scene.lease_id}")
    assert await tab.page.locator("dd", has_text="rotate").text_content() == "rotate <logs> & restart"  # escaped
    for name, measured in MEASURED[before:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)
