"""Sandboxes in a real browser, with the keyboard only: an owner fills the create form and submits it with
Enter, tabs to Pause, Resume and Delete on the sandbox's page and presses Enter on each; "open" on a port takes a
new tab to the proxied sandbox (its token exchanged for the proxy's own cookie, never kept in the page; no
Referer and no opener).
Every page visited is checked for CSP violations and off-host requests, and measured against the budgets."""

from __future__ import annotations

from typing import Any

from tesserra_core.domain.identity import Role
from tesserra_core.usecases.sandbox_views import NewSandbox
from tests.browser.conftest import BUDGETS, MEASURED, Tab, open_tab
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.http.test_sandboxes import PORT
from tests.support import LiveServer

MAX_TABS = 60


async def _focus_by_keyboard(page: Any, element_id: str) -> None:
    """Press Tab until ``element_id`` has the focus (from wherever the focus is)."""
    for _ in range(MAX_TABS):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with Tab")


async def _press(page: Any, element_id: str) -> None:
    await _focus_by_keyboard(page, element_id)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def _state(page: Any) -> str:
    return (await page.text_content("#state") or "").strip()


async def test_create_and_act_on_a_sandbox_with_the_keyboard(tab: Tab, people: Accounts, site: LiveServer) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit("/console/sandboxes", "sandboxes (empty)")
    assert await page.is_visible("text=No sandboxes yet")
    await _press(page, "new-sandbox-link")
    await tab.visit("/console/sandboxes/new", "sandbox (new)")
    await _focus_by_keyboard(page, "sb-name")
    await page.keyboard.type("keyboard")
    await _focus_by_keyboard(page, "sb-command")
    await page.keyboard.type(f"python3 -m http.server {PORT} --bind 0.0.0.0")
    await page.keyboard.press("Tab")
    await page.keyboard.type(str(PORT))
    await _focus_by_keyboard(page, "sb-idle")
    await page.keyboard.type("600")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")  # submits the form
    assert "/console/sandboxes/" in page.url, await page.content()
    path = page.url.removeprefix(tab.origin)
    await tab.visit(path, "sandbox")
    assert await _state(page) == "running"
    assert await page.locator("#events tr", has_text="request").count() >= 2

    await _press(page, "action-pause")
    assert await _state(page) == "paused"
    await _press(page, "action-resume")
    assert await _state(page) == "running"
    assert await tab.csp_violations() == []

    # to the proxy in a new tab: the token in the URL once, then its cookie; no Referer, no opener
    referers: list[str | None] = []
    page.context.on(
        "request", lambda r: referers.append(r.headers.get("referer")) if "/api/runtime/proxy/" in r.url else None
    )
    await _focus_by_keyboard(page, f"action-open-{PORT}")
    async with page.context.expect_page() as opening:
        await page.keyboard.press("Enter")
    proxied = await opening.value
    await proxied.wait_for_load_state()
    assert proxied.url == f"{tab.origin}/api/runtime/proxy/{path.rsplit('/', 1)[1]}:{PORT}/"
    assert "Directory listing" in await proxied.content()
    assert await proxied.evaluate("window.opener") is None
    assert len(referers) >= 2  # the token's URL, then the same URL without it
    assert referers == [None] * len(referers), referers
    assert page.url.endswith(path)  # the console's tab stays where it was
    cookies = await page.context.cookies()
    proxy = [c for c in cookies if c["name"] == "tesserra_proxy"]
    assert proxy
    assert proxy[0]["httpOnly"]
    assert proxy[0]["path"].startswith("/api/runtime/proxy/")

    await tab.visit(path, "sandbox (again)")
    await _press(page, "action-delete")
    assert await _state(page) == "deleted"
    assert await page.locator("#actions").count() == 0
    await tab.visit("/console/sandboxes", "sandboxes")
    assert await page.is_visible("text=No sandboxes yet")
    for name, measured in MEASURED[before:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)


async def test_an_illegal_action_shows_the_409_message(tab: Tab, people: Accounts, site: LiveServer) -> None:
    """Two tabs on one sandbox: one stops it, the other (its page now stale) asks to pause it."""
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    await page.goto(f"{tab.origin}/console/sandboxes/new")
    await page.fill("#sb-name", "stale")
    await page.fill("#sb-command", f"python3 -m http.server {PORT} --bind 0.0.0.0")
    await page.fill("#sb-ports", str(PORT))
    async with page.expect_navigation():
        await page.click("#new-sandbox button[type=submit]")
    path = page.url.removeprefix(tab.origin)
    stale = await page.context.new_page()
    await stale.goto(f"{tab.origin}{path}")
    await _press(page, "action-stop")
    assert await _state(page) == "stopped"
    await _press(stale, "action-pause")
    assert "cannot pause a sandbox that is stopped" in (await stale.text_content("#action-error") or "")
    assert await _state(stale) == "stopped"
    await _press(page, "action-delete")


async def test_the_container_pages_are_clean_and_a_viewer_sees_no_controls(
    tab: Tab, people: Accounts, site: LiveServer
) -> None:
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    box = await site.uc.sandboxes.create(
        actor, NewSandbox(name="boxed", command=["python3", "-m", "http.server", str(PORT)], ports=[PORT])
    )
    [container] = await site.uc.ports.runtime.list(f"sandbox:{box.id}")
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    await tab.visit("/console/containers?kind=sandbox", "containers")
    async with page.expect_navigation():
        await page.click(f"a[href='/console/containers/{container.id}']")
    await tab.visit(f"/console/containers/{container.id}", "container")
    await _press(page, "action-restart")
    assert await _state(page) == "running"
    assert await tab.csp_violations() == []

    viewer = await people.member(owner.tenant_id, Role.VIEWER)
    async with open_tab(tab.page.context.browser, site) as other:
        await other.sign_in(viewer.email, PASSWORD)
        await other.visit(f"/console/containers/{container.id}", "container (viewer)")
        assert await other.page.locator("#actions").count() == 0
        await other.visit(f"/console/sandboxes/{box.id}", "sandbox (viewer)")
        assert await other.page.locator("#actions").count() == 0
        assert await other.page.locator("form[method=post][action*='/console/sandboxes/']").count() == 0
    await site.uc.sandboxes.delete(actor, box.id)
