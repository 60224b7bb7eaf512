"""OAuthClient contract: the httpx client against a real provider on loopback, and the in-process
server of the memory container, answer the same way (so the fake cannot drift)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import msgspec
import pytest

from tesserra_adapters.memory.oauth import MemoryOAuthServer
from tesserra_adapters.oauth_client import HttpxOAuthClient, http_client
from tesserra_adapters.outbound import on_demand_client
from tesserra_core.domain.shared_tools import OAuthProvider, pkce_challenge
from tesserra_core.errors import UpstreamFailed, ValidationFailed
from tesserra_core.ports.shared_tools import OAuthClient
from tests.servers.oauth_provider import CLIENT_ID, CLIENT_SECRET, OAuthProviderServer, oauth_provider
from tests.support import free_port

REDIRECT = "http://127.0.0.1:9/api/auth/callback"


@dataclass
class Rig:
    client: OAuthClient
    provider: OAuthProvider
    approve: Callable[[str, str], Awaitable[str]]
    """(challenge, email) -> an authorization code, as the browser step would yield it."""
    outage: Callable[[bool], None]


@pytest.fixture(scope="module")
async def loopback() -> AsyncIterator[OAuthProviderServer]:
    async with oauth_provider() as server:
        yield server


@pytest.fixture(params=["httpx", "memory"])
async def rig(request: pytest.FixtureRequest, loopback: OAuthProviderServer) -> AsyncIterator[Rig]:
    if request.param == "memory":
        fake = MemoryOAuthServer(clock=time.time)
        provider = OAuthProvider(
            id="p",
            name="P",
            authorize_url="https://idp.test/authorize",
            token_url="https://idp.test/token",
            userinfo_url="https://idp.test/userinfo",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )

        async def approve_fake(challenge: str, email: str) -> str:
            return fake.authorize(CLIENT_ID, REDIRECT, challenge, email)

        def outage_fake(on: bool) -> None:
            fake.failing = on

        yield Rig(fake, provider, approve_fake, outage_fake)
        return
    server = loopback
    provider = msgspec.convert(
        {
            "id": "p",
            "name": "P",
            **{
                k: v
                for k, v in server.provider_config().items()
                if k in ("authorize_url", "token_url", "userinfo_url", "client_id", "client_secret")
            },
        },
        OAuthProvider,
    )

    async def approve(challenge: str, email: str) -> str:
        server.approve_as = email
        query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": "s"}
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        async with httpx.AsyncClient() as browser:
            response = await browser.get(f"{server.url}/authorize?{urlencode(query)}")
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    def outage(on: bool) -> None:
        server.token_outage = on

    async with http_client() as client:
        try:
            yield Rig(HttpxOAuthClient(client), provider, approve, outage)
        finally:
            server.token_outage = False


def verifier() -> str:
    return secrets.token_urlsafe(48)


async def test_code_exchange_with_the_right_verifier(rig: Rig) -> None:
    v = verifier()
    code = await rig.approve(pkce_challenge(v), "ana@example.com")
    grant = await rig.client.exchange_code(rig.provider, code=code, verifier=v, redirect_uri=REDIRECT)
    assert grant.access_token
    assert grant.refresh_token
    assert grant.expires_in is not None
    assert grant.expires_in > 0
    assert await rig.client.user_email(rig.provider, access_token=grant.access_token) == "ana@example.com"


async def test_a_code_is_single_use(rig: Rig) -> None:
    v = verifier()
    code = await rig.approve(pkce_challenge(v), "ana@example.com")
    await rig.client.exchange_code(rig.provider, code=code, verifier=v, redirect_uri=REDIRECT)
    with pytest.raises(ValidationFailed) as err:
        await rig.client.exchange_code(rig.provider, code=code, verifier=v, redirect_uri=REDIRECT)
    assert err.value.code == "oauth_invalid_grant"


@pytest.mark.parametrize("wrong", ["verifier", "redirect", "code"])
async def test_mismatches_are_invalid_grant(rig: Rig, wrong: str) -> None:
    v = verifier()
    code = await rig.approve(pkce_challenge(v), "ana@example.com")
    kwargs = {"code": code, "verifier": v, "redirect_uri": REDIRECT}
    kwargs |= {"verifier": verifier()} if wrong == "verifier" else {}
    kwargs |= {"redirect_uri": REDIRECT + "/x"} if wrong == "redirect" else {}
    kwargs |= {"code": "nope"} if wrong == "code" else {}
    with pytest.raises(ValidationFailed) as err:
        await rig.client.exchange_code(rig.provider, **kwargs)
    assert err.value.code == "oauth_invalid_grant"


async def test_refresh_rotates_and_the_old_refresh_token_dies(rig: Rig) -> None:
    v = verifier()
    code = await rig.approve(pkce_challenge(v), "ana@example.com")
    grant = await rig.client.exchange_code(rig.provider, code=code, verifier=v, redirect_uri=REDIRECT)
    assert grant.refresh_token is not None
    fresh = await rig.client.refresh(rig.provider, refresh_token=grant.refresh_token)
    assert fresh.access_token != grant.access_token
    assert await rig.client.user_email(rig.provider, access_token=fresh.access_token) == "ana@example.com"
    with pytest.raises(ValidationFailed) as err:
        await rig.client.refresh(rig.provider, refresh_token=grant.refresh_token)
    assert err.value.code == "oauth_invalid_grant"


async def test_userinfo_with_a_bad_token_is_upstream_failure(rig: Rig) -> None:
    with pytest.raises(UpstreamFailed):
        await rig.client.user_email(rig.provider, access_token="not-a-token")


async def test_no_userinfo_endpoint_means_no_email(rig: Rig) -> None:
    import msgspec

    provider = msgspec.structs.replace(rig.provider, userinfo_url=None)
    assert await rig.client.user_email(provider, access_token="anything") is None


async def test_outage_is_upstream_failure(rig: Rig) -> None:
    rig.outage(True)
    with pytest.raises(UpstreamFailed):
        await rig.client.refresh(rig.provider, refresh_token="whatever")


async def test_unreachable_provider_is_upstream_failure() -> None:
    dead = OAuthProvider(
        id="dead",
        name="Dead",
        authorize_url="http://127.0.0.1:9/authorize",
        token_url=f"http://127.0.0.1:{free_port()}/token",
        client_id="c",
    )
    async with on_demand_client(timeout=2.0) as client:
        with pytest.raises(UpstreamFailed) as err:
            await HttpxOAuthClient(client).refresh(dead, refresh_token="r")
    assert err.value.code == "oauth_provider_unreachable"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code"),
    [
        (200, b'{"token_type": "bearer"}', "application/json", "oauth_bad_response"),
        (200, b'{"access_token": 5}', "application/json", "oauth_bad_response"),
        (200, b'{"access_token": "a", "token_type": "mac"}', "application/json", "oauth_bad_response"),
        (200, b"<html>", "text/html", "oauth_bad_response"),
        (200, b"[1, 2]", "application/json", "oauth_bad_response"),
        (400, b'{"error": "invalid_client"}', "application/json", "oauth_token_failed"),
        (500, b"oops", "text/plain", "oauth_token_failed"),
        (200, b'{"access_token": "' + b"a" * 70_000 + b'"}', "application/json", "oauth_bad_response"),
    ],
)
async def test_odd_provider_answers_are_502(status: int, body: bytes, content_type: str, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    provider = OAuthProvider(id="o", name="O", authorize_url="https://o/a", token_url="https://o/t", client_id="c")
    async with on_demand_client(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(UpstreamFailed) as err:
            await HttpxOAuthClient(client).refresh(provider, refresh_token="r")
    assert err.value.code == code


async def test_form_encoded_answers_are_understood_and_public_clients_send_their_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            content=b"access_token=abc&scope=repo+user&token_type=bearer",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

    provider = OAuthProvider(id="o", name="O", authorize_url="https://o/a", token_url="https://o/t", client_id="pub")
    async with on_demand_client(transport=httpx.MockTransport(handler)) as client:
        grant = await HttpxOAuthClient(client).refresh(provider, refresh_token="r")
    assert (grant.access_token, grant.scope) == ("abc", "repo user")
    form = parse_qs(seen[0].content.decode())
    assert form["client_id"] == ["pub"]
    assert "authorization" not in seen[0].headers


def test_pkce_challenge_matches_rfc7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    digest = hashlib.sha256(b"x").digest()
    assert pkce_challenge("x") == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
