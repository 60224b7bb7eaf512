"""A small, real OAuth 2.0 authorization server for tests (Starlette under uvicorn on loopback).

- ``GET /authorize``: auto-approves as ``approve_as`` (or refuses with ``access_denied`` while
  ``deny`` is set) and redirects to the redirect URI with ``code`` and ``state``;
- ``POST /token``: ``authorization_code`` (client authentication, redirect URI and PKCE S256
  verified; codes single use) and ``refresh_token`` (rotated; a used one is ``invalid_grant``);
- ``GET /userinfo``: the account's email for a live bearer access token.

Every token it issues is recorded, so tests can look for them in responses and logs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support import free_port

CLIENT_ID = "tesserra-test-client"
CLIENT_SECRET = "client-secret-" + "s" * 24


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    email: str
    scope: str


@dataclass
class OAuthProviderServer:
    approve_as: str = "someone@provider.test"
    deny: bool = False
    access_ttl: float = 3600.0
    token_outage: bool = False
    """While True, /token answers 503 with an HTML body (a provider that is down)."""
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    """Every access and refresh token handed out (to search responses and logs for)."""
    issued_codes: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    """The grant type of every successful /token call, in order."""
    url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri, state = q.get("redirect_uri", ""), q.get("state", "")
        if q.get("client_id") != CLIENT_ID or not redirect_uri:
            return JSONResponse({"error": "invalid_request"}, 400)
        if self.deny:
            return RedirectResponse(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}", 302)
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            params = {"error": "invalid_request", "state": state}
            return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", 302)
        code = secrets.token_urlsafe(24)
        self.issued_codes.append(code)
        self.codes[code] = _Code(
            CLIENT_ID, redirect_uri, q["code_challenge"], "S256", self.approve_as, q.get("scope", "")
        )
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", 302)

    def _client_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id == CLIENT_ID and secrets.compare_digest(secret, CLIENT_SECRET)
        return False

    def _issue(self, email: str, scope: str) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.issued += [access, refresh]
        self.access[access] = (email, time.time() + self.access_ttl)
        self.refresh_tokens[refresh] = (email, scope)
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "refresh_token": refresh,
        }
        if scope:
            body["scope"] = scope
        return body

    async def token(self, request: Request) -> Response:
        if self.token_outage:
            return Response("<html>upstream down</html>", 503, media_type="text/html")
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not self._client_ok(request):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if code is None or code.redirect_uri != form.get("redirect_uri") or challenge != code.challenge:
                return JSONResponse({"error": "invalid_grant", "error_description": "bad code or verifier"}, 400)
            self.grants.append(grant_type)
            return JSONResponse(self._issue(code.email, code.scope), headers={"Cache-Control": "no-store"})
        if grant_type == "refresh_token":
            held = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if held is None:
                return JSONResponse({"error": "invalid_grant", "error_description": "unknown refresh token"}, 400)
            self.grants.append(grant_type)
            return JSONResponse(self._issue(*held), headers={"Cache-Control": "no-store"})
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    async def userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        held = self.access.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if held is None or held[1] <= time.time():
            return JSONResponse({"error": "invalid_token"}, 401, headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse({"sub": hashlib.sha256(held[0].encode()).hexdigest()[:16], "email": held[0]})

    def provider_config(self, provider_id: str = "loopback", **changes: object) -> dict[str, object]:
        """This server as an entry of the shared tools file."""
        return {
            "id": provider_id,
            "name": "Loopback OAuth",
            "authorize_url": f"{self.url}/authorize",
            "token_url": f"{self.url}/token",
            "userinfo_url": f"{self.url}/userinfo",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": ["profile", "email"],
            **changes,
        }


@asynccontextmanager
async def oauth_provider() -> AsyncIterator[OAuthProviderServer]:
    """The provider on a free loopback port, in this event loop, for the life of the block."""
    provider = OAuthProviderServer()
    port = free_port()
    provider.url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        await task
