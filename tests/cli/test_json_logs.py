"""TESSERRA_LOG_FORMAT=json (issue 15): one JSON object per line with time, level, message, request id,
tenant, principal and route template, an access line per request, and never a secret. Requests carry
passwords, JWTs, refresh tokens, API keys and proxy tokens in headers, bodies, query strings and paths,
some valid, some not, to a two-worker `tesserra serve`; every line it wrote is then scanned for them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.cli.served import serving

PASSWORD = "hardening-password-1"  # the bootstrap owner's (served.serve_env)
WRONG_PASSWORD = "Wr0ng-but-secret-password-7731"
PROXY_TOKEN = "proxy-token-secret-9d1c0e7a5b3f"
STRANGER_KEY = "tessera_abcdefgh_Zx9Q8w7E6r5T4y3U2i1O0pLkJhGfDsAa"
CONTEXT = ("time", "level", "logger", "message", "request_id", "tenant_id", "principal_id", "route")


async def _traffic(http: httpx.AsyncClient) -> tuple[list[str], dict[str, Any]]:
    """Requests carrying every kind of secret; the secrets sent, and /api/auth/me's answer."""
    email = "admin@tesserra.local"
    wrong = await http.post("/api/auth/login", json={"email": email, "password": WRONG_PASSWORD})
    assert wrong.status_code == 401
    truncated = f'{{"email": "{email}", "password": "{WRONG_PASSWORD}x"'
    bad_json = await http.post("/api/auth/login", content=truncated, headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    login = (await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()
    access, refresh = login["access_token"], login["refresh_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    me = await http.get("/api/auth/me", headers=bearer)
    assert me.status_code == 200
    key = (await http.post("/api/auth/keys/generate", json={"name": "logged"}, headers=bearer)).json()["key"]

    for headers in ({"X-API-Key": key}, {"X-Tesserra-Api-Key": key}, {"Authorization": f"Bearer {key}"}):
        assert (await http.get("/api/auth/me", headers=headers)).status_code == 200
    assert (await http.get("/api/auth/me", headers={"X-API-Key": STRANGER_KEY})).status_code == 401
    assert (await http.get("/api/auth/me", params={"api_key": key, "access_token": access})).status_code == 401
    assert (await http.get(f"/api/projetos/{key}", headers=bearer)).status_code == 404
    assert (await http.get(f"/no/such/{access}")).status_code == 404
    rotated = (await http.post("/api/auth/refresh", json={"refresh_token": refresh})).json()
    assert (await http.post("/api/auth/refresh", json={"refresh_token": refresh})).status_code == 401  # reuse
    proxied = "/api/runtime/proxy/01JSANDBOXNOTREAL0000000000/x"
    assert (await http.get(proxied, headers={"X-Tesserra-Proxy-Token": PROXY_TOKEN})).status_code in (401, 404)
    assert (await http.get(proxied, params={"tesserra_proxy_token": PROXY_TOKEN})).status_code in (401, 404)
    secrets = [PASSWORD, WRONG_PASSWORD, PROXY_TOKEN, STRANGER_KEY, access, refresh, key]
    secrets += [rotated["access_token"], rotated["refresh_token"]]
    return secrets, me.json()


def _fragments(secret: str) -> list[str]:
    """The secret, and the parts that alone would leak it (a JWT's signature, an API key's secret)."""
    parts = [secret, *(p for p in secret.replace("_", ".").split(".") if len(p) >= 16)]
    return parts


async def test_json_lines_carry_the_request_context_and_never_a_secret(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, "--workers", "2", TESSERRA_LOG_FORMAT="json") as server,
        httpx.AsyncClient(base_url=server.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http,
    ):
        secrets, me = await _traffic(http)
        for _ in range(20):  # spread over both workers (a connection per request)
            assert (await http.get("/health")).status_code == 200
    text = server.log.read_text()

    for secret in secrets:
        for fragment in _fragments(secret):
            assert fragment not in text, f"a secret reached the log: {fragment[:6]}..."

    lines = []
    for raw in text.splitlines():
        if raw.startswith(("First start:", "(this is the only time")):
            continue  # the first-start banner is printed, not logged (and names no password here)
        line = json.loads(raw)
        assert all(name in line for name in CONTEXT), line
        lines.append(line)
    access = [line for line in lines if line["logger"] == "tesserra.access"]
    assert len(access) >= 35

    mine = [line for line in access if line["route"] == "/api/auth/me" and line["status"] == 200]
    assert len(mine) == 4  # the JWT and three key headers
    assert {line["tenant_id"] for line in mine} == {me["tenant"]["id"]}
    assert {line["principal_id"] for line in mine} == {me["user"]["id"]}
    assert all(line["method"] == "GET" and line["duration_ms"] > 0 for line in mine)
    routes = {line["route"] for line in access}
    assert "/api/projetos/{project_id}" in routes
    assert "<unmatched>" in routes
    assert all(line["tenant_id"] is None for line in access if line["status"] == 401)

    ids = [line["request_id"] for line in access]
    assert len(set(ids)) == len(ids), "two requests got the same id (forked workers shared the generator)"
