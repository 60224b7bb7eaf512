"""Shared tools in the console over real sockets, with the test suite's own OAuth provider on loopback:
a user links their account from the console, and the link is bound to the console session that started
it. Someone who starts a link and sends the provider's URL to another person gets nothing linked, in
either account; a console link does not complete at the API's callback, an API link not at the console's;
a viewer has no link buttons and is refused; the callback's parameters are bounded; CSRF is required."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, PASSWORD, Account, Accounts
from tests.drivers.web.conftest import ConsoleClient
from tests.servers.oauth_provider import OAuthProviderServer, oauth_provider
from tests.support import LiveServer, database_url, live_server
from tests.support import test_settings as settings_for

TOOL = "loopback-drive"
_CONTINUE = re.compile(r'<a class="button" id="continue" href="([^"]+)"')


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OAuthProviderServer]:
    async with oauth_provider() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
async def oauth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, provider: OAuthProviderServer
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"console-oauth-{request.param}")
    tools_file = tmp / "tools.json"
    tools_file.write_text(
        json.dumps(
            {
                "providers": [provider.provider_config()],
                "tools": [
                    {"id": TOOL, "name": "Loopback Drive", "provider_id": "loopback"},
                    {"id": "no-account", "name": "Needs no account"},
                ],
            }
        )
    )
    async with (
        database_url(request.param, tmp) as url,
        live_server(settings_for(tmp, url, shared_tools_file=tools_file, rate_limit_scale=100.0)) as srv,
    ):
        assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield srv


@pytest.fixture(scope="module")
def oauth_accounts(oauth_server: LiveServer) -> Accounts:
    return Accounts(oauth_server.uc)


@pytest.fixture
async def http(oauth_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=oauth_server.url, timeout=30.0) as client:
        yield client


async def _signed_in(http: httpx.AsyncClient, account: Account) -> ConsoleClient:
    console = ConsoleClient(http)
    await console.sign_in(account.email, PASSWORD)
    return console


async def _start(console: ConsoleClient) -> str:
    """Press "Link your account": the provider's authorization URL the page offers."""
    await console.get("/console/shared-tools")
    page = await console.post(f"/console/shared-tools/{TOOL}/link")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert 'hx-history="false"' in page.text
    found = _CONTINUE.search(page.text)
    assert found, page.text
    return html.unescape(found.group(1))


async def _at_provider(provider: OAuthProviderServer, url: str, email: str) -> str:
    """Whoever opens the URL approves at the provider as ``email``: the callback path and query it is sent to."""
    provider.approve_as = email
    async with httpx.AsyncClient(timeout=30.0) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


async def _linked(server: LiveServer, account: Account) -> bool:
    status = await server.uc.shared_tools.oauth_status(await server.uc.authenticate(account.access), TOOL)
    return status.linked


async def test_a_user_links_their_account_from_the_console(
    http: httpx.AsyncClient, oauth_server: LiveServer, oauth_accounts: Accounts, provider: OAuthProviderServer
) -> None:
    owner = await oauth_accounts.tenant_owner()
    console = await _signed_in(http, owner)
    listed = await console.get("/console/shared-tools")
    assert listed.status_code == 200
    assert "Loopback Drive" in listed.text
    assert "not linked" in listed.text
    assert "none needed" in listed.text
    url = await _start(console)
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [f"{oauth_server.url}/console/oauth/callback"]
    back = await _at_provider(provider, url, "owner@provider.test")
    assert back.startswith("/console/oauth/callback?")
    done = await console.get(back)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/console/shared-tools?linked={TOOL}"
    shown = await console.get(done.headers["location"])
    assert "Linked your account for Loopback Drive" in shown.text
    assert "Link again" in shown.text
    assert await _linked(oauth_server, owner)
    principal = await oauth_server.uc.authenticate(owner.access)
    assert (await oauth_server.uc.shared_tools.user_email(principal, TOOL)).email == "owner@provider.test"
    replay = await console.get(back)
    assert replay.status_code == 400
    assert "already used" in replay.text


async def test_a_link_sent_to_someone_else_links_nothing(
    http: httpx.AsyncClient, oauth_server: LiveServer, oauth_accounts: Accounts, provider: OAuthProviderServer
) -> None:
    mallory = await oauth_accounts.tenant_owner()
    victim = await oauth_accounts.member(mallory.tenant_id, Role.ADMIN)
    attacker, target = await _signed_in(http, mallory), await _signed_in(http, victim)
    url = await _start(attacker)
    back = await _at_provider(provider, url, "victim@provider.test")  # the victim approves with their account
    refused = await target.get(back)  # ... and their browser returns, signed in as themself
    assert refused.status_code == 400
    assert "started in another browser or console session" in refused.text
    assert not await _linked(oauth_server, mallory)
    assert not await _linked(oauth_server, victim)

    second = await _signed_in(http, mallory)  # the same user, another console session
    url = await _start(attacker)
    back = await _at_provider(provider, url, "mallory@provider.test")
    assert (await second.get(back)).status_code == 400
    api = await http.get("/api/auth/callback" + back.removeprefix("/console/oauth/callback"))
    assert api.status_code == 400
    assert api.json()["code"] == "oauth_state_invalid"
    assert not await _linked(oauth_server, mallory)
    assert (await attacker.get(back)).status_code == 303  # the refusals did not use it up
    assert await _linked(oauth_server, mallory)


async def test_an_api_started_link_does_not_complete_in_the_console(
    http: httpx.AsyncClient, oauth_server: LiveServer, oauth_accounts: Accounts, provider: OAuthProviderServer
) -> None:
    owner = await oauth_accounts.tenant_owner()
    console = await _signed_in(http, owner)
    start = await http.post(f"/api/shared-tools/{TOOL}/oauth/state", headers=owner.bearer)
    assert start.status_code == 201
    back = await _at_provider(provider, start.json()["authorization_url"], "owner@provider.test")
    assert back.startswith("/api/auth/callback?")
    moved = "/console/oauth/callback" + back.removeprefix("/api/auth/callback")
    assert (await console.get(moved)).status_code == 400
    assert not await _linked(oauth_server, owner)


async def test_signed_out_the_callback_asks_to_sign_in_and_comes_back(
    http: httpx.AsyncClient, oauth_server: LiveServer, oauth_accounts: Accounts, provider: OAuthProviderServer
) -> None:
    owner = await oauth_accounts.tenant_owner()
    console = await _signed_in(http, owner)
    back = await _at_provider(provider, await _start(console), "owner@provider.test")
    stranger = await http.get(back)  # no session at all
    assert stranger.status_code == 303
    assert stranger.headers["location"].startswith("/console/login?next=")
    assert not await _linked(oauth_server, owner)
    assert (await console.get(back)).status_code == 303
    assert await _linked(oauth_server, owner)


async def test_callback_parameters_are_bounded_and_a_provider_refusal_is_a_page(
    http: httpx.AsyncClient, oauth_accounts: Accounts, provider: OAuthProviderServer
) -> None:
    owner = await oauth_accounts.tenant_owner()
    console = await _signed_in(http, owner)
    for query in ("state=" + "a" * 300, "code=" + "c" * 2000, "error=%00x", "state=x.y"):
        page = await console.get(f"/console/oauth/callback?{query}")
        assert page.status_code == 400, query
        assert 'role="alert"' in page.text
    url = await _start(console)
    provider.deny = True
    try:
        back = await _at_provider(provider, url, "owner@provider.test")
    finally:
        provider.deny = False
    denied = await console.get(back)
    assert denied.status_code == 403
    assert "denied access" in denied.text


async def test_a_viewer_has_no_link_button_and_linking_needs_csrf(
    http: httpx.AsyncClient, oauth_server: LiveServer, oauth_accounts: Accounts
) -> None:
    owner = await oauth_accounts.tenant_owner()
    viewer = await oauth_accounts.member(owner.tenant_id, Role.VIEWER)
    watcher = await _signed_in(http, viewer)
    page = await watcher.get("/console/shared-tools")
    assert page.status_code == 200
    assert "Link your account" not in page.text
    assert (await watcher.post(f"/console/shared-tools/{TOOL}/link")).status_code == 403
    console = await _signed_in(http, owner)
    await console.get("/console/shared-tools")
    target = f"/console/shared-tools/{TOOL}/link"
    assert (await console.post(target, csrf=None)).status_code == 403
    assert (await console.post(target, origin="https://evil.example")).status_code == 403
    unknown = await console.post("/console/shared-tools/no-such-tool/link")
    assert unknown.status_code == 404
