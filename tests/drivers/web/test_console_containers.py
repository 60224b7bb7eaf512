"""The container pages over a real socket, on the server's default runtime (the process runtime: a sandbox's
workload is the container acted on): the list with its filters in the URL, a container's page, stop, start,
restart and remove as an owner (the workload really stops, runs again, is gone); a bad action or filter is a
400 page; a viewer and a member see no controls and the server refuses their actions; another tenant's
container is a 404 page; CSRF is required."""

from __future__ import annotations

import re

import httpx

from tesserra_core.domain.identity import Role
from tesserra_core.ports.runtime import WorkloadState
from tests.drivers.http.conftest import PASSWORD, Account, Accounts
from tests.drivers.http.test_sandboxes import PORT
from tests.drivers.web.conftest import ConsoleClient
from tests.drivers.web.test_console_sandboxes import a_sandbox
from tests.support import LiveServer


def _state(page: httpx.Response) -> str:
    found = re.search(r'<dd id="state">([a-z]+)', page.text)
    assert found, page.text
    return found.group(1)


async def _workload(server: LiveServer, owner: Account) -> tuple[str, str]:
    """A sandbox of ``owner``'s tenant, and the id of the container that runs it."""
    sid = await a_sandbox(server, owner.access, "boxed")
    [workload] = await server.uc.ports.runtime.list(f"sandbox:{sid}")
    return sid, workload.id


async def _act(console: ConsoleClient, path: str, action: str) -> httpx.Response:
    done = await console.post(f"{path}/actions/{action}")
    assert done.status_code == 303, done.text
    return await console.get(done.headers["location"])


async def test_list_filter_stop_start_restart_and_remove(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    sid, cid = await _workload(server, owner)
    await console.sign_in(owner.email, PASSWORD)
    path = f"/console/containers/{cid}"
    listed = await console.get("/console/containers")
    assert listed.status_code == 200
    assert f'href="{path}"' in listed.text
    sandboxes = await console.get("/console/containers?kind=sandbox&state=running")
    assert f'href="{path}"' in sandboxes.text
    assert '<option value="sandbox" selected>' in sandboxes.text
    assert f'href="{path}"' not in (await console.get("/console/containers?kind=installation")).text
    assert f'href="{path}"' not in (await console.get("/console/containers?state=exited")).text
    for bad in ("kind=everything", "state=zombie", "page=0"):
        refused = await console.get(f"/console/containers?{bad}")
        assert refused.status_code == 400, bad

    page = await console.get(path)
    assert _state(page) == "running"
    assert f'href="/console/sandboxes/{sid}"' in page.text
    assert str(PORT) in page.text
    for action in ("start", "stop", "restart", "remove"):
        assert f'id="action-{action}"' in page.text

    stopped = await _act(console, path, "stop")
    assert _state(stopped) == "exited"
    seen = await server.uc.ports.runtime.inspect(cid)
    assert seen is not None
    assert seen.state is WorkloadState.EXITED
    assert f'href="{path}"' in (await console.get("/console/containers?state=exited")).text
    assert _state(await _act(console, path, "start")) == "running"
    assert _state(await _act(console, path, "restart")) == "running"
    unknown = await console.post(f"{path}/actions/explode")
    assert unknown.status_code == 400
    assert "action must be one of start, stop, restart, remove" in unknown.text

    removed = await console.post(f"{path}/actions/remove")
    assert removed.status_code == 303
    after = await console.get(removed.headers["location"])
    assert "removed" in after.text
    assert f'href="{path}"' not in after.text
    assert await server.uc.ports.runtime.inspect(cid) is None
    assert (await console.get(path)).status_code == 404
    await server.uc.sandboxes.delete(await server.uc.authenticate(owner.access), sid)


async def test_viewers_and_members_see_no_controls_and_the_server_refuses_them(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    sid, cid = await _workload(server, owner)
    path = f"/console/containers/{cid}"
    for role in (Role.VIEWER, Role.MEMBER):
        person = await accounts.member(owner.tenant_id, role)
        await console.sign_in(person.email, PASSWORD)
        page = await console.get(path)
        assert page.status_code == 200
        assert 'id="actions"' not in page.text
        assert 'method="post" action="/console/containers/' not in page.text
        refused = await console.post(f"{path}/actions/stop")
        assert refused.status_code == 403, role
        assert "Not allowed" in refused.text
    seen = await server.uc.ports.runtime.inspect(cid)
    assert seen is not None
    assert seen.state is WorkloadState.RUNNING
    await server.uc.sandboxes.delete(await server.uc.authenticate(owner.access), sid)


async def test_another_tenants_container_is_the_404_page_and_csrf_is_required(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    mine, theirs = await accounts.tenant_owner(), await accounts.tenant_owner()
    sid, cid = await _workload(server, theirs)
    await console.sign_in(mine.email, PASSWORD)
    path = f"/console/containers/{cid}"
    assert f'href="{path}"' not in (await console.get("/console/containers")).text
    assert (await console.get("/console/containers/a%00b")).status_code in (400, 404)  # NUL: never a 5xx
    for target in (path, "/console/containers/missing", "/console/containers/" + "x" * 200):
        page = await console.get(target)
        assert page.status_code == 404, target
        assert "no such container" in page.text
    assert (await console.post(f"{path}/actions/stop")).status_code == 404

    await console.sign_in(theirs.email, PASSWORD)
    for origin, csrf in ((None, ""), ("http://evil.example", ""), ("", None), ("", "forged")):
        refused = await console.post(f"{path}/actions/stop", origin=origin, csrf=csrf)
        assert refused.status_code == 403, (origin, csrf)
    seen = await server.uc.ports.runtime.inspect(cid)
    assert seen is not None
    assert seen.state is WorkloadState.RUNNING
    await server.uc.sandboxes.delete(await server.uc.authenticate(theirs.access), sid)
