"""A project's files and live status in a real browser: an upload shows its progress and the file appears (and
downloads byte for byte); a resource's status changed through the use case shows on the open project page
without a reload (server-sent events); the files and health pages are free of CSP violations and off-host
requests, and within the budgets."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.resources import DesiredState, ResourceStatus
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource, ResourceChanges
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.support import LiveServer

_WATCH_PROGRESS = """
window.__progress = [];
new MutationObserver(() => {
  const bar = document.querySelector("#upload progress");
  window.__progress.push([bar.hidden, Number(bar.value)]);
}).observe(document.querySelector("#upload"), { attributes: true, subtree: true, childList: true });
"""
"""Every change of the upload form (its progress bar's value, its note) as the browser made it."""


async def test_an_upload_shows_its_progress_and_the_file_appears(tab: Tab, people: Accounts, site: LiveServer) -> None:
    """The page's own record of its progress bar is read while the upload goes out (held back by DevTools'
    network throttling: the server answers only once the whole body has arrived), then the file is listed and
    downloads byte for byte."""
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    project = await site.uc.projects.create(actor, NewProject(name="uploads"))
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    path = f"/console/projects/{project.id}/files"
    await tab.visit(path, "project files")
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 * 1024 * 1024},
    )
    content = os.urandom(4 * 1024 * 1024)
    upload = {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": content}
    await page.set_input_files("#upload-file", files=[upload])
    await page.evaluate(_WATCH_PROGRESS)
    await page.click("#upload button[type=submit]")
    seen: list[float] = []
    while "uploaded=" not in page.url:
        try:
            seen = await page.evaluate("(window.__progress || []).filter(p => !p[0]).map(p => p[1])") or seen
        except Exception:  # the page went on to the list while being read
            break
        await asyncio.sleep(0.05)
    await page.wait_for_url(f"**{path}?uploaded=big.bin", timeout=60_000)
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    assert any(0 < v < 100 for v in seen), seen  # partway: the bar moved while the bytes went out
    assert await page.is_visible("text=Stored big.bin.")
    assert await page.locator("table a", has_text="big.bin").count() == 1
    assert await tab.csp_violations() == []
    stored = (await site.uc.files.list(actor, project.id, PageRequest())).items
    assert [(f.name, f.size) for f in stored] == [("big.bin", len(content))]

    await page.set_input_files("#upload-file", files=[{**upload, "buffer": b"again"}])
    await page.click("#upload button[type=submit]")  # the same name: refused, shown on the form in place
    alert = page.locator("#main .error[role=alert]")
    await alert.wait_for()
    assert "already holds a file named 'big.bin'" in (await alert.text_content() or "")
    assert page.url.endswith(f"{path}?uploaded=big.bin")  # no navigation: the answer replaced the main content
    assert await tab.csp_violations() == []

    async with page.expect_download() as info:
        await page.click("table a:has-text('big.bin')")
    download = await info.value
    assert download.suggested_filename == "big.bin"
    assert Path(await download.path()).read_bytes() == content  # noqa: ASYNC240  (a few MiB, once)


async def test_a_status_change_shows_without_a_reload(tab: Tab, people: Accounts, site: LiveServer) -> None:
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    project = await site.uc.projects.create(actor, NewProject(name="live"))
    resource = await site.uc.resources.create(actor, project.id, NewResource(type="object_bucket", name="bucket"))
    for _ in range(200):
        if (await site.uc.resources.get(actor, resource.id)).status is ResourceStatus.RUNNING:
            break
        await asyncio.sleep(0.05)
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit(f"/console/projects/{project.id}", "project (live)")
    status = f"#resource-{resource.id}-status"
    await page.locator(f"{status}[data-state='running']").wait_for()
    await page.evaluate("window.__sameDocument = true")
    await site.uc.resources.update(actor, resource.id, ResourceChanges(state=DesiredState.STOPPED))
    await page.locator(f"{status}[data-state='stopped']").wait_for(timeout=15_000)
    assert "stopped on request" in (await page.text_content(status) or "")
    assert await page.evaluate("window.__sameDocument === true")  # the same page: no reload
    assert await tab.csp_violations() == []
    await tab.visit(f"/console/projects/{project.id}/health", "project health")
    assert await page.is_visible("td:has-text('bucket')")
    for name, measured in MEASURED[before:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)
