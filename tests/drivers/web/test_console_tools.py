"""The marketplace and installation pages over a real socket, on a server with the test catalog and real MCP
servers behind it: search (filters and page in the URL), a tool's page and install form whose secret setting is
never filled in nor echoed back (not on a refused form, not on the installation's page), an installation's status
and tools, a call whose result is escaped; a viewer sees no write controls and the server refuses the writes
anyway; another user's or tenant's installation is a 404 page; CSRF is required."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tesserra_core.domain.identity import Role
from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, PASSWORD, Accounts
from tests.drivers.http.tools.conftest import PROBE, SECRET, TIME
from tests.drivers.web.conftest import COOKIE, ConsoleClient
from tests.servers.launchers import CATALOG, write_launchers
from tests.support import LiveServer, database_url, live_server

_INSTALLATION = re.compile(r"^/console/installations/([^/?]+)$")


@pytest.fixture(scope="module", params=BACKENDS)
async def tools_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """The tool tests' server (the test catalog, real MCP servers), its per-IP sign-in limit scaled: every
    console here signs in from 127.0.0.1."""
    tmp = tmp_path_factory.mktemp(f"console-tools-{request.param}")
    scripts = write_launchers(tmp / "bin")
    async with database_url(request.param, tmp) as url:
        settings = support.test_settings(
            tmp, url, catalog_source=str(CATALOG), tool_script_dirs=scripts, rate_limit_scale=100.0
        )
        async with live_server(settings) as srv:
            assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield srv


@pytest.fixture(scope="module")
def team_accounts(tools_server: LiveServer) -> Accounts:
    return Accounts(tools_server.uc)


@pytest.fixture
async def web(tools_server: LiveServer) -> AsyncIterator[ConsoleClient]:
    async with httpx.AsyncClient(base_url=tools_server.url, timeout=60.0) as http:
        yield ConsoleClient(http)


async def _settled(web: ConsoleClient, path: str) -> httpx.Response:
    """The installation's page once the server has left ``installing`` (its live stream would reload it then)."""
    for _ in range(600):
        page = await web.get(path)
        assert page.status_code == 200, page.text
        if 'data-state="installing"' not in page.text:
            return page
        assert "data-reload" in page.text  # still installing: the page follows its live stream and reloads
        await asyncio.sleep(0.05)
    raise AssertionError("still installing")


async def _live_list(web: ConsoleClient, seconds: float = 2.5) -> str:
    """What the installations list's live stream sends in its first ``seconds``."""
    received = b""
    headers = {"Cookie": f"{COOKIE}={web.session}"}
    async with web.http.stream("GET", "/console/live/installations", headers=headers) as stream:
        assert stream.status_code == 200
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for chunk in stream.aiter_bytes():
                    received += chunk
    return received.decode()


async def _install_probe(web: ConsoleClient, token: str = SECRET) -> str:
    await web.get(f"/console/marketplace/{PROBE}")
    installed = await web.post(f"/console/marketplace/{PROBE}/install", {"config.PROBE_TOKEN": token})
    assert installed.status_code == 303, installed.text
    path = str(installed.headers["location"])
    assert _INSTALLATION.match(path), path
    return path


async def test_search_filters_and_page_in_the_url(web: ConsoleClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    everything = await web.get("/console/marketplace")
    assert everything.status_code == 200
    assert f'href="/console/marketplace/{PROBE}"' in everything.text
    assert f'href="/console/marketplace/{TIME}"' in everything.text
    found = await web.get("/console/marketplace?q=time")
    assert f'href="/console/marketplace/{TIME}"' in found.text
    assert f'href="/console/marketplace/{PROBE}"' not in found.text
    assert 'value="time"' in found.text
    none = await web.get("/console/marketplace?q=zzzz-nothing")
    assert "No tool matches" in none.text
    past = await web.get("/console/marketplace?page=50&q=time")
    assert "past the last page" in past.text
    assert 'href="/console/marketplace?page=1&amp;q=time"' in past.text
    for bad in ("/console/marketplace?q=" + "x" * 201, "/console/marketplace?page=0"):
        response = await web.get(bad)
        assert response.status_code == 400, bad
        assert "<html" in response.text
    missing = await web.get("/console/marketplace/no-such-tool")
    assert missing.status_code == 404
    assert "Not found" in missing.text


async def test_install_never_echoes_the_secret_and_a_call_is_escaped(
    web: ConsoleClient,
    team_accounts: Accounts,
) -> None:
    owner = await team_accounts.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    tool = await web.get(f"/console/marketplace/{PROBE}")
    assert tool.headers["cache-control"] == "no-store"
    assert 'name="config.PROBE_TOKEN" type="password"' in tool.text
    refused = await web.post(
        f"/console/marketplace/{PROBE}/install", {"config.PROBE_TOKEN": SECRET, "config.EVIL": "1", "scope": "user"}
    )
    assert refused.status_code == 400
    assert "config.EVIL" in refused.text
    assert SECRET not in refused.text  # a refused form never fills the secret in again
    missing = await web.post(f"/console/marketplace/{PROBE}/install", {})
    assert missing.status_code == 400
    assert "config.PROBE_TOKEN: required" in missing.text

    path = await _install_probe(web)
    page = await _settled(web, path)
    assert page.status_code == 200
    assert 'class="status-ready"' in page.text
    assert "PROBE_TOKEN" in page.text
    assert SECRET not in page.text
    assert "set (secret, never shown)" in page.text
    assert "<code>echo</code>" in page.text
    listed = await web.get("/console/installations")
    assert f'href="{path}"' in listed.text
    assert SECRET not in listed.text

    called = await web.post(f"{path}/call", {"name": "echo", "arguments": '{"text": "<img src=x onerror=alert(1)>"}'})
    assert called.status_code == 200, called.text
    assert "Result of echo" in called.text
    assert "<img src=x" not in called.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in called.text
    for arguments, status in (("[1]", 400), ("{not json", 400)):
        bad = await web.post(f"{path}/call", {"name": "echo", "arguments": arguments})
        assert bad.status_code == status, arguments
        assert "JSON object" in bad.text
    unknown = await web.post(f"{path}/call", {"name": "nope"})
    assert unknown.status_code == 404
    assert "has no tool" in unknown.text
    assert 'id="call"' in unknown.text  # shown on the installation's page, not the 404 page


async def test_a_viewer_sees_no_tool_write_controls_and_writes_are_refused(
    web: ConsoleClient,
    team_accounts: Accounts,
    tools_server: LiveServer,
) -> None:
    owner = await team_accounts.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/marketplace/{PROBE}")
    installed = await web.post(f"/console/marketplace/{PROBE}/install", {"config.PROBE_TOKEN": "t", "scope": "tenant"})
    assert installed.status_code == 303, installed.text
    path = str(installed.headers["location"])
    await _settled(web, path)
    viewer_web = ConsoleClient(web.http)
    viewer = await team_accounts.member(owner.tenant_id, Role.VIEWER)
    await viewer_web.sign_in(viewer.email, PASSWORD)
    tool = await viewer_web.get(f"/console/marketplace/{PROBE}")
    assert tool.status_code == 200
    assert 'id="install"' not in tool.text
    page = await viewer_web.get(path)
    assert page.status_code == 200
    assert "<code>echo</code>" in page.text
    assert 'id="call"' not in page.text
    assert 'id="remove-installation"' not in page.text
    for target, form in (
        (f"/console/marketplace/{PROBE}/install", {"config.PROBE_TOKEN": "t"}),
        (f"{path}/call", {"name": "echo", "arguments": '{"text": "hi"}'}),
        (f"{path}/remove", {"confirm": "yes"}),
    ):
        refused = await viewer_web.post(target, form)
        assert refused.status_code == 403, target
        assert "Not allowed" in refused.text
    listed = await viewer_web.get("/console/installations")
    assert listed.text.count('href="/console/installations/') == 1


async def test_another_users_or_tenants_installation_is_a_404_page(
    web: ConsoleClient,
    team_accounts: Accounts,
) -> None:
    owner = await team_accounts.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    path = await _install_probe(web, "private-token")  # scope user: only its installer sees it
    await _settled(web, path)
    installation_id = path.rsplit("/", 1)[1]
    assert f"installation-{installation_id}-status" in await _live_list(web)  # its installer's stream has it
    colleague = await team_accounts.member(owner.tenant_id, Role.ADMIN)
    stranger = await team_accounts.tenant_owner()
    for account in (colleague, stranger):
        other = ConsoleClient(web.http)
        await other.sign_in(account.email, PASSWORD)
        for target in (path, path.replace("/console/", "/console/live/")):
            page = await other.get(target)
            assert page.status_code == 404, target
            assert "Not found" in page.text
        assert installation_id not in await _live_list(other)  # nor does it show in their list's stream
        called = await other.post(f"{path}/call", {"name": "echo", "arguments": '{"text": "x"}'})
        assert called.status_code == 404
        assert "Not found" in called.text
        removed = await other.post(f"{path}/remove", {"confirm": "yes"})
        assert removed.status_code == 404
        assert "Not found" in removed.text
        assert "No tools installed yet" in (await other.get("/console/installations")).text


async def test_removing_an_installation_needs_the_box_ticked_and_ends_it(
    web: ConsoleClient,
    team_accounts: Accounts,
) -> None:
    owner = await team_accounts.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    path = await _install_probe(web)
    page = await _settled(web, path)
    assert 'id="remove-installation"' in page.text
    unconfirmed = await web.post(f"{path}/remove", {})
    assert unconfirmed.status_code == 400
    assert "tick the box" in unconfirmed.text
    assert (await web.get(path)).status_code == 200
    assert (await web.post(f"{path}/remove", {"confirm": "yes"}, csrf="forged")).status_code == 403
    assert (await web.get(path)).status_code == 200
    removed = await web.post(f"{path}/remove", {"confirm": "yes"})
    assert removed.status_code == 303
    assert removed.headers["location"] == "/console/installations"
    assert (await web.get(path)).status_code == 404
    assert "No tools installed yet" in (await web.get("/console/installations")).text
    again = await web.post(f"{path}/remove", {"confirm": "yes"})
    assert again.status_code == 404


async def test_tool_writes_need_the_csrf_token_and_this_origin(
    web: ConsoleClient,
    team_accounts: Accounts,
) -> None:
    owner = await team_accounts.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/marketplace/{PROBE}")
    form = {"config.PROBE_TOKEN": "forged"}
    target = f"/console/marketplace/{PROBE}/install"
    assert (await web.post(target, form, csrf=None)).status_code == 403
    assert (await web.post(target, form, csrf="forged")).status_code == 403
    assert (await web.post(target, form, origin="https://evil.example")).status_code == 403
    assert "No tools installed yet" in (await web.get("/console/installations")).text
