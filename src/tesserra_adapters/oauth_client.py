"""The OAuth 2.0 client calls (httpx): code exchange with PKCE, refresh, and the account's email.

Provider failures become core errors: ``invalid_grant`` is the caller's (400), anything else the
provider's (502). Tokens travel in bodies and headers, never in URLs, so no log line carries one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec

from tesserra_adapters.outbound import OnDemandClient, on_demand_client
from tesserra_core.domain.shared_tools import OAuthProvider
from tesserra_core.errors import UpstreamFailed, ValidationFailed
from tesserra_core.ports.shared_tools import TokenGrant
from tesserra_core.ports.tracing import Tracer

if TYPE_CHECKING:
    import httpx

_ERROR = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
BAD = "oauth_bad_response"
MAX_RESPONSE = 64 * 1024


@asynccontextmanager
async def http_client(seconds: float = 10.0, tracer: Tracer | None = None) -> AsyncIterator[OnDemandClient]:
    """The outbound client for providers, made on the first call; closed at shutdown. Redirects are
    not followed."""
    async with on_demand_client(tracer, timeout=seconds, follow_redirects=False, trust_env=False) as client:
        yield client


def _body(response: httpx.Response) -> dict[str, Any]:
    if len(response.content) > MAX_RESPONSE:
        raise UpstreamFailed("the OAuth provider's answer is too large", code="oauth_bad_response")
    if response.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(response.text))
    try:
        data = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


class HttpxOAuthClient:
    def __init__(self, client: OnDemandClient) -> None:
        self._client = client

    async def exchange_code(
        self, provider: OAuthProvider, *, code: str, verifier: str, redirect_uri: str
    ) -> TokenGrant:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return await self._token(provider, form)

    async def refresh(self, provider: OAuthProvider, *, refresh_token: str) -> TokenGrant:
        return await self._token(provider, {"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def user_email(self, provider: OAuthProvider, *, access_token: str) -> str | None:
        if provider.userinfo_url is None:
            return None
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        response = await self._send("GET", provider.userinfo_url, headers=headers)
        if response.status_code != 200:
            raise UpstreamFailed(
                f"the OAuth provider's userinfo endpoint answered {response.status_code}", code="oauth_userinfo_failed"
            )
        email = _body(response).get("email")
        return email if isinstance(email, str) and "@" in email else None

    async def _token(self, provider: OAuthProvider, form: dict[str, str]) -> TokenGrant:
        auth: tuple[str, str] | None = None
        if provider.client_secret is not None:
            auth = (provider.client_id, provider.client_secret)  # client_secret_basic (RFC 6749 2.3.1)
        else:
            form = {**form, "client_id": provider.client_id}  # a public client: PKCE alone
        response = await self._send(
            "POST", provider.token_url, data=form, auth=auth, headers={"Accept": "application/json"}
        )
        body = _body(response)
        error = body.get("error")
        if response.status_code >= 400 or error is not None:
            name = error if isinstance(error, str) and _ERROR.match(error) else f"HTTP {response.status_code}"
            if name == "invalid_grant":
                raise ValidationFailed(
                    "the provider refused the grant (invalid_grant): it expired, was used, or the PKCE verifier "
                    "does not match",
                    code="oauth_invalid_grant",
                )
            raise UpstreamFailed(f"the OAuth provider refused the token request ({name})", code="oauth_token_failed")
        token_type = body.get("token_type")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise UpstreamFailed("the OAuth provider issued an unsupported token type", code="oauth_bad_response")
        try:
            grant = msgspec.convert(
                {k: body[k] for k in ("access_token", "refresh_token", "expires_in", "scope") if k in body},
                TokenGrant,
                strict=False,
            )
        except msgspec.ValidationError:
            raise UpstreamFailed(
                "the OAuth provider's answer is not a token response", code="oauth_bad_response"
            ) from None
        if not grant.access_token:
            raise UpstreamFailed("the OAuth provider's answer carries no access token", code="oauth_bad_response")
        return grant

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            return await self._client().request(method, url, **kwargs)
        except httpx.HTTPError:
            raise UpstreamFailed("the OAuth provider could not be reached", code="oauth_provider_unreachable") from None
