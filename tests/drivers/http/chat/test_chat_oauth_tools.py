"""An agent's call to a tool that acts with the user's own OAuth account, over real parts (SQLite and
PostgreSQL): the suite's OAuth provider on loopback, linked by two users of one tenant to two different
accounts through the real authorization flow; each user's own installation of the drive entry (the probe
server, started with the user's access token); each user asking the tenant's private agent over
/api/conversas, answered through the suite's scripted model server. Each user's call carries that user's
token, never the other's; a user who has not linked the account gets a structured needs_auth error and
the server never runs for them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, Account, Accounts, fresh_address
from tests.drivers.http.tools.conftest import settle
from tests.servers.launchers import CATALOG, write_launchers
from tests.servers.oauth_provider import OAuthProviderServer, oauth_provider
from tests.servers.scripted_model import ScriptedModelServer
from tests.support import LiveServer, database_url, live_server
from tests.support import test_settings as settings_for

DRIVE = "test.tesserra-drive"
ACCOUNT_TOOL = "google"
"""The shared tool whose linked account the drive entry's server runs with (its ``oauth_provider``)."""


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OAuthProviderServer]:
    async with oauth_provider() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
async def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model: ScriptedModelServer,
    provider: OAuthProviderServer,
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"chat-oauth-{request.param}")
    tools_file = tmp / "tools.json"
    tools_file.write_text(
        json.dumps(
            {
                "providers": [provider.provider_config()],
                "tools": [{"id": ACCOUNT_TOOL, "name": "Drive account", "provider_id": "loopback"}],
            }
        )
    )
    scripts = write_launchers(tmp / "bin")
    async with database_url(request.param, tmp) as url:
        settings = settings_for(
            tmp,
            url,
            model_base_url=model.url,
            model="tiny-chat",
            shared_tools_file=tools_file,
            catalog_source=str(CATALOG),
            tool_script_dirs=scripts,
        )
        async with live_server(settings) as srv:
            assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield srv


async def _link(http: httpx.AsyncClient, provider: OAuthProviderServer, account: Account, email: str) -> None:
    """The user links their account at the provider: the real flow, a browser played by httpx."""
    provider.approve_as = email
    start = await http.post(f"/api/shared-tools/{ACCOUNT_TOOL}/oauth/state", headers=account.bearer)
    assert start.status_code == 201, start.text
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(transport=transport, timeout=20.0, follow_redirects=True) as browser:
        done = await browser.get(start.json()["authorization_url"])
    assert done.status_code == 200, done.text
    assert done.json()["email"] == email


async def _install(http: httpx.AsyncClient, account: Account) -> dict[str, object]:
    response = await http.post(f"/api/marketplace/tools/{DRIVE}/install", json={}, headers=account.bearer)
    assert response.status_code == 202, response.text
    return await settle(http, account, str(response.json()["id"]))


async def test_each_users_agent_call_carries_that_users_own_token(
    server: LiveServer,
    client: httpx.AsyncClient,
    accounts: Accounts,
    provider: OAuthProviderServer,
    model: ScriptedModelServer,
) -> None:
    ana = await accounts.tenant_owner("Drive Co")
    bia = await accounts.member(ana.tenant_id, Role.MEMBER)
    caio = await accounts.member(ana.tenant_id, Role.MEMBER)
    await _link(client, provider, ana, "ana@provider.test")
    await _link(client, provider, bia, "bia@provider.test")
    for account in (ana, bia):
        assert (await _install(client, account))["status"] == "ready"
    assert (await _install(client, caio))["status"] == "needs_auth"
    private = {
        "vertical": "operations",
        "name": "Drive",
        "instructions": "Use env_digest.",
        "installation_tools": [{"entry_id": DRIVE, "tool": "env_digest"}],
    }
    created = await client.post("/api/tenants/atual/agentes", json=private, headers=ana.bearer)
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]

    async def digest_as(account: Account) -> tuple[str, str]:
        """The user asks the tenant's agent, over /api/conversas; the model calls the drive's tool."""
        model.script(call("env_digest", {"name": "OAUTH_ACCESS_TOKEN"}), say("ok"))
        started = await client.post("/api/conversas", json={"agent_id": agent_id}, headers=account.bearer)
        assert started.status_code == 201, started.text
        url = f"/api/conversas/{started.json()['id']}/mensagens"
        posted = await client.post(url, json={"content": "qual token?"}, headers=account.bearer)
        assert posted.status_code == 201, posted.text
        [record] = posted.json()["reply"]["tool_calls"]
        return str(record["outcome"]), str(record["result"])

    for account, email in ((ana, "ana@provider.test"), (bia, "bia@provider.test")):
        outcome, result = await digest_as(account)
        assert outcome == "ok", result
        principal = await server.uc.authenticate(account.access)
        token = await server.uc.shared_tools.access_token(principal, ACCOUNT_TOOL)
        assert provider.access[token][0] == email
        assert json.loads(result)["content"][0]["text"] == hashlib.sha256(token.encode()).hexdigest()
        others = [t for t, (who, _) in provider.access.items() if who != email]
        assert others
        assert all(hashlib.sha256(t.encode()).hexdigest() not in result for t in others)

    outcome, result = await digest_as(caio)
    assert outcome == "failed"
    assert json.loads(result)["error"] == {"code": "needs_auth", "message": "link your account to use this tool"}
    assert not any(token in result for token in provider.issued)
