"""Shared-tool OAuth over real sockets: this server, a real OAuth 2.0 provider on loopback (the test
suite's own), and a browser played by httpx following the provider's redirect back to the callback.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BACKENDS,
    Account,
    Accounts,
    assert_error,
    fresh_address,
)
from tests.servers.oauth_provider import CLIENT_SECRET, OAuthProviderServer, oauth_provider
from tests.support import LiveServer, database_url, live_server
from tests.support import test_settings as settings_for

TOOL = "loopback-drive"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@pytest.fixture(scope="module")
def log_lines() -> Iterator[list[str]]:
    """Every log line of every logger while this module runs (at DEBUG)."""
    handler, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OAuthProviderServer]:
    async with oauth_provider() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
async def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    provider: OAuthProviderServer,
    log_lines: list[str],
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"oauth-{request.param}")
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
        live_server(settings_for(tmp, url, shared_tools_file=tools_file)) as srv,
    ):
        assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield srv


@pytest.fixture(scope="module")
def accounts(server: LiveServer) -> Accounts:
    return Accounts(server.uc)


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20.0) as client:
        yield client


@pytest.fixture(autouse=True)
def provider_defaults(provider: OAuthProviderServer) -> Iterator[None]:
    yield
    provider.deny = False
    provider.token_outage = False
    provider.access_ttl = 3600.0
    provider.approve_as = "someone@provider.test"


async def begin(http: httpx.AsyncClient, account: Account, tool: str = TOOL) -> dict[str, str]:
    response = await http.post(f"/api/shared-tools/{tool}/oauth/state", headers=account.bearer)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


async def browse(url: str) -> httpx.Response:
    """The browser: open the authorization URL and follow the provider's redirect to the callback."""
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(transport=transport, timeout=20.0, follow_redirects=True) as browser:
        return await browser.get(url)


async def link(http: httpx.AsyncClient, provider: OAuthProviderServer, account: Account, email: str) -> httpx.Response:
    provider.approve_as = email
    start = await begin(http, account)
    response = await browse(start["authorization_url"])
    assert response.status_code == 200, response.text
    return response


def callback_url(response: httpx.Response) -> str:
    """The callback URL the provider sent the browser to (code and state in its query)."""
    return str(response.url)


async def test_full_flow_links_the_callers_account(
    server: LiveServer, http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    start = await begin(http, owner)
    query = parse_qs(urlsplit(start["authorization_url"]).query)
    assert query["redirect_uri"] == [f"{server.url}/api/auth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [start["state"]]
    assert CLIENT_SECRET not in json.dumps(start)

    provider.approve_as = "owner@provider.test"
    done = await browse(start["authorization_url"])
    assert done.status_code == 200, done.text
    assert done.url.path == "/api/auth/callback"
    assert done.headers["cache-control"] == "no-store"
    body = done.json()
    assert body == {
        "tool_id": TOOL,
        "provider_id": "loopback",
        "linked": True,
        "email": "owner@provider.test",
        "scopes": ["profile", "email"],
        "expires_at": body["expires_at"],
    }

    status = await http.get(f"/api/shared-tools/{TOOL}/oauth/status", headers=owner.bearer)
    assert status.status_code == 200
    assert status.json()["linked"] is True
    assert status.json()["expired"] is False
    assert status.json()["scopes"] == ["profile", "email"]
    email = await http.get(f"/api/shared-tools/{TOOL}/oauth/user-email", headers=owner.bearer)
    assert email.json() == {"tool_id": TOOL, "email": "owner@provider.test"}
    listed = await http.get("/api/shared-tools", headers=owner.bearer)
    assert [(t["id"], t["linked"]) for t in listed.json()["items"]] == [(TOOL, True), ("no-account", False)]

    for response in (done, status, email, listed):
        assert not any(token in response.text for token in provider.issued)

    principal = await server.uc.authenticate(owner.access)
    token = await server.uc.shared_tools.access_token(principal, TOOL)
    assert provider.access[token][0] == "owner@provider.test"


async def test_replaying_the_callback_fails(
    http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    first = await link(http, provider, owner, "a@provider.test")
    again = await browse(callback_url(first))
    assert_error(again, 400, "oauth_state_used")


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        # its last character changed (to another: a state that already ended in "0" was left intact)
        (lambda q: {**q, "state": q["state"][:-1] + ("1" if q["state"].endswith("0") else "0")}, "oauth_state_invalid"),
        (lambda q: {**q, "state": "01J0000000000000000000000." + "0" * 64}, "oauth_state_invalid"),
        (lambda q: {"code": q["code"]}, "oauth_state_invalid"),
        (lambda q: {"state": q["state"]}, "oauth_code_missing"),
        (lambda q: {**q, "code": "forged-code"}, "oauth_invalid_grant"),
    ],
)
async def test_tampered_callbacks_fail_with_clear_errors(
    server: LiveServer,
    http: httpx.AsyncClient,
    provider: OAuthProviderServer,
    accounts: Accounts,
    mangle: object,
    code: str,
) -> None:
    owner = await accounts.tenant_owner()
    start = await begin(http, owner)
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(transport=transport, timeout=20.0) as browser:
        at_provider = await browser.get(start["authorization_url"])  # do not follow: tamper first
        assert at_provider.status_code == 302
        query = {k: v[0] for k, v in parse_qs(urlsplit(at_provider.headers["location"]).query).items()}
        response = await browser.get(f"{server.url}/api/auth/callback", params=mangle(query))  # type: ignore[operator]
    assert_error(response, 400, code)
    status = await http.get(f"/api/shared-tools/{TOOL}/oauth/status", headers=owner.bearer)
    assert status.json()["linked"] is False


async def test_pkce_mismatch_is_refused(
    server: LiveServer, http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    """A code the provider bound to another challenge (an attacker's) does not complete this state."""
    owner = await accounts.tenant_owner()
    start = await begin(http, owner)
    query = {k: v[0] for k, v in parse_qs(urlsplit(start["authorization_url"]).query).items()}
    query["code_challenge"] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # the challenge of a verifier we lack
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(transport=transport, timeout=20.0, follow_redirects=True) as browser:
        response = await browser.get(f"{provider.url}/authorize", params=query)
    assert_error(response, 400, "oauth_invalid_grant")


async def test_denied_at_the_provider(
    http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    provider.deny = True
    start = await begin(http, owner)
    assert_error(await browse(start["authorization_url"]), 403, "oauth_access_denied")


async def test_provider_outage_is_502_not_500(
    http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    provider.token_outage = True
    start = await begin(http, owner)
    body = assert_error(await browse(start["authorization_url"]), 502, "oauth_token_failed")
    assert "upstream down" not in str(body)


async def test_refresh_on_expiry_through_the_real_provider(
    server: LiveServer, http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    provider.access_ttl = 30.0  # inside the refresh margin: every use refreshes
    await link(http, provider, owner, "r@provider.test")
    principal = await server.uc.authenticate(owner.access)
    grants = len(provider.grants)
    first = await server.uc.shared_tools.access_token(principal, TOOL)
    second = await server.uc.shared_tools.access_token(principal, TOOL)
    assert provider.grants[grants:] == ["refresh_token", "refresh_token"]
    assert first != second
    assert provider.access[second][0] == "r@provider.test"
    status = (await http.get(f"/api/shared-tools/{TOOL}/oauth/status", headers=owner.bearer)).json()
    assert status["refreshed_at"] is not None


async def test_user_b_never_sees_user_a(
    server: LiveServer, http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.member(a.tenant_id, Role.MEMBER)
    stranger = await accounts.tenant_owner("Other")
    await link(http, provider, a, "a-secret-address@provider.test")
    for other in (b, stranger):
        status = await http.get(f"/api/shared-tools/{TOOL}/oauth/status", headers=other.bearer)
        assert status.status_code == 200
        assert status.json()["linked"] is False
        assert status.json()["email"] is None
        assert_error(await http.get(f"/api/shared-tools/{TOOL}/oauth/user-email", headers=other.bearer), 404)
        listed = await http.get("/api/shared-tools", headers=other.bearer)
        assert "a-secret-address" not in listed.text
        principal = await server.uc.authenticate(other.access)
        with pytest.raises(Exception, match="link your account"):
            await server.uc.shared_tools.access_token(principal, TOOL)


async def test_auth_errors_and_unknown_tools(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    assert_error(await http.post(f"/api/shared-tools/{TOOL}/oauth/state"), 401)
    assert_error(await http.get(f"/api/shared-tools/{TOOL}/oauth/status"), 401)
    assert_error(await http.get("/api/shared-tools"), 401)
    assert_error(
        await http.post("/api/shared-tools/nope/oauth/state", headers=owner.bearer), 404, "shared_tool_not_found"
    )
    assert_error(await http.get("/api/shared-tools/nope/oauth/status", headers=owner.bearer), 404)
    assert_error(await http.post("/api/shared-tools/no-account/oauth/state", headers=owner.bearer), 422)
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    assert_error(await http.post(f"/api/shared-tools/{TOOL}/oauth/state", headers=viewer.bearer), 403)
    assert_error(await http.get("/api/auth/callback"), 400, "oauth_state_invalid")
    assert_error(await http.get("/api/auth/callback", params={"state": "x" * 5000}), 400)


async def test_no_token_or_client_secret_in_any_log_line(
    http: httpx.AsyncClient, provider: OAuthProviderServer, accounts: Accounts, log_lines: list[str], server: LiveServer
) -> None:
    """Runs after the flows above (same module): every token the provider issued, and its client
    secret, are absent from every log line. (Authorization codes travel in the browser's URL by
    design; they are single use and bound to the PKCE verifier.)"""
    owner = await accounts.tenant_owner()
    await link(http, provider, owner, "log@provider.test")
    principal = await server.uc.authenticate(owner.access)
    await server.uc.shared_tools.access_token(principal, TOOL)
    tokens = provider.issued
    assert len(tokens) >= 4
    text = "\n".join(log_lines)
    assert "/api/auth/callback" in text  # the server did log its requests
    assert CLIENT_SECRET not in text
    leaked = [t for t in tokens if t in text]
    assert leaked == []
