"""Attempts to get around the rules by the side door: query-string credentials, spoofed client
addresses, replays after logout, mass assignment, oversized bodies, cross-origin reads, leaky status."""

from __future__ import annotations

import uuid

import httpx

from tests.drivers.http.conftest import (
    PASSWORD,
    Account,
    Accounts,
    ClientFactory,
    KeyMinter,
    assert_error,
    fresh_address,
)
from tests.support import LiveServer

ME = "/api/auth/me"
GENERATE = "/api/auth/keys/generate"
TENANTS = "/api/admin/tenants"


async def test_credentials_in_the_query_string_are_ignored(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    for params in ({"api_key": key}, {"access_token": owner.access}, {"token": key}):
        assert_error(await client.get(ME, params=params), 401, "missing_credentials")


async def test_a_garbage_authorization_header_beside_a_valid_api_key_is_ambiguous(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    response = await client.get(ME, headers={"Authorization": "Bearer garbage", "X-API-Key": key})
    assert_error(response, 400, "ambiguous_credentials")


async def test_spoofed_forwarding_headers_do_not_escape_the_per_address_login_limit(
    clients: ClientFactory, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    client = clients(fresh_address())
    for i in range(6):
        spoof = {"X-Forwarded-For": f"10.9.8.{i}", "X-Real-IP": f"10.9.8.{i}", "Forwarded": f"for=10.9.8.{i}"}
        response = await client.post(
            "/api/auth/login", json={"email": owner.email, "password": PASSWORD}, headers=spoof
        )
        if i < 5:
            assert response.status_code == 200, response.text
    assert_error(response, 429, "rate_limited")


async def test_idempotent_replay_is_refused_once_the_session_has_ended(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    """The stored response holds a key's secret: it must not be handed to a logged-out token."""
    owner = await accounts.tenant_owner()
    headers = {**owner.bearer, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await client.post(GENERATE, json={"name": "secret"}, headers=headers)
    assert first.status_code == 201
    assert (await client.post("/api/auth/logout", headers=owner.bearer)).status_code == 204
    replay = await client.post(GENERATE, json={"name": "secret"}, headers=headers)
    assert_error(replay, 401, "session_revoked")
    assert first.json()["key"] not in replay.text


async def test_another_credential_of_the_same_user_does_not_get_the_replay(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    idem = f"k-{uuid.uuid4()}"
    first = await client.post(GENERATE, json={"name": "n"}, headers={**owner.bearer, "Idempotency-Key": idem})
    second = await client.post(GENERATE, json={"name": "n"}, headers={"X-API-Key": key, "Idempotency-Key": idem})
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json()["key"] != second.json()["key"]


async def test_tenant_creation_refuses_unknown_fields_like_admin_flags(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.admin()
    for extra in ({"is_platform_admin": True}, {"status": "active", "id": "01FORGEDID"}, {"owner_role": "admin"}):
        body = {"name": "Sneaky", "owner_email": f"s-{uuid.uuid4().hex[:8]}@example.com", "owner_password": PASSWORD}
        assert_error(await client.post(TENANTS, json={**body, **extra}, headers=admin.bearer), 400)


async def test_tenant_creation_validates_its_input(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    cases = [
        ({"name": ""}, "validation_failed"),  # the rules /openapi.json states
        ({"name": "Ok", "slug": "Not A Slug"}, "validation_failed"),
        ({"name": "Ok", "owner_email": "nope"}, "validation_failed"),
        ({"name": "Ok", "owner_email": f"w-{uuid.uuid4().hex[:6]}@example.com", "owner_password": "short"}, None),
    ]
    for body, code in cases:
        assert_error(await client.post(TENANTS, json=body, headers=admin.bearer), 400, code)
    # Whether a password is needed depends on whether the user exists: semantic, 422.
    no_password = {"name": "Ok", "owner_email": f"n-{uuid.uuid4().hex[:6]}@example.com"}
    assert_error(await client.post(TENANTS, json=no_password, headers=admin.bearer), 422, "password_required")


async def test_tenant_creation_with_an_existing_users_password_is_409(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.admin()
    owner = await accounts.tenant_owner()
    body = {"name": "Takeover", "owner_email": owner.email, "owner_password": "attacker-password"}
    assert_error(await client.post(TENANTS, json=body, headers=admin.bearer), 409, "user_exists")
    ok = await client.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert ok.status_code == 200, "the existing user's password is unchanged"


async def test_oversized_idempotent_body_is_refused(client: httpx.AsyncClient, shared_owner: Account) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {**shared_owner.bearer, "Idempotency-Key": f"k-{uuid.uuid4()}", "content-type": "application/json"}
    assert_error(await client.post(GENERATE, content=big, headers=headers), 400, "body_too_large")


async def test_body_over_ten_megabytes_is_413(client: httpx.AsyncClient, shared_owner: Account) -> None:
    big = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    headers = {**shared_owner.bearer, "content-type": "application/json"}
    assert_error(await client.post(GENERATE, content=big, headers=headers), 413)


async def test_cross_origin_requests_get_no_cors_grant(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    evil = "https://evil.example"
    preflight = await client.options(
        ME,
        headers={
            "Origin": evil,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.headers.get("access-control-allow-origin") not in (evil, "*")
    read = await client.get(ME, headers={**owner.bearer, "Origin": evil})
    assert read.headers.get("access-control-allow-origin") not in (evil, "*")
    assert read.headers.get("access-control-allow-credentials") != "true"


async def test_status_does_not_leak_the_database_url_or_secrets(client: httpx.AsyncClient, server: LiveServer) -> None:
    text = (await client.get("/status")).text
    for secret in ("postgresql://", "postgres@", "sqlite+aiosqlite", "t" * 48, "tesserra.db"):
        assert secret not in text


async def test_patch_to_suspended_refuses_cached_credentials_at_once(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.admin()
    tenant = await accounts.tenant_owner()
    assert (await client.get(ME, headers=tenant.bearer)).status_code == 200
    patched = await client.patch(f"{TENANTS}/{tenant.tenant_id}", json={"status": "suspended"}, headers=admin.bearer)
    assert patched.status_code == 200, patched.text
    assert_error(await client.get(ME, headers=tenant.bearer), 403, "tenant_suspended")
    restored = await client.patch(f"{TENANTS}/{tenant.tenant_id}", json={"status": "active"}, headers=admin.bearer)
    assert restored.status_code == 200, restored.text
    assert (await client.get(ME, headers=tenant.bearer)).status_code == 200
