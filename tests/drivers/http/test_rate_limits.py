"""Rate limits and account lockout, as a client sees them: 429, Retry-After and X-RateLimit-*."""

from __future__ import annotations

import httpx

from tesserra_core.usecases.guards import DEFAULT_RULES
from tests.drivers.http.conftest import PASSWORD, Accounts, ClientFactory, KeyMinter, assert_error, fresh_address

LOGIN = "/api/auth/login"
ME = "/api/auth/me"
ADMIN_TENANTS = "/api/admin/tenants"


def _assert_rate_limited(response: httpx.Response, limit: int, window: float) -> None:
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= window
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["x-ratelimit-reset"]) <= window


def test_the_documented_limits_are_the_configured_ones() -> None:
    assert (DEFAULT_RULES["login"].limit, DEFAULT_RULES["login"].window) == (5, 900.0)
    assert (DEFAULT_RULES["me"].limit, DEFAULT_RULES["me"].window) == (60, 60.0)
    assert (DEFAULT_RULES["admin"].limit, DEFAULT_RULES["admin"].window) == (120, 60.0)


async def test_five_failed_logins_lock_the_account_even_for_the_right_password(
    clients: ClientFactory, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    for _ in range(5):  # each from its own address, so the per-IP limit is not what stops us
        wrong = await clients().post(LOGIN, json={"email": owner.email, "password": "wrong password"})
        assert_error(wrong, 401, "invalid_login")
    locked = await clients().post(LOGIN, json={"email": owner.email, "password": PASSWORD})
    assert_error(locked, 429, "account_locked")
    assert 800 <= int(locked.headers["retry-after"]) <= 900
    assert "access_token" not in locked.text


async def test_a_successful_login_resets_the_failure_count(clients: ClientFactory, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    for _ in range(2):
        for _ in range(4):
            wrong = await clients().post(LOGIN, json={"email": owner.email, "password": "wrong password"})
            assert_error(wrong, 401, "invalid_login")
        right = await clients().post(LOGIN, json={"email": owner.email, "password": PASSWORD})
        assert right.status_code == 200, right.text


async def test_lockout_is_per_account(clients: ClientFactory, accounts: Accounts) -> None:
    locked = await accounts.tenant_owner()
    other = await accounts.tenant_owner()
    for _ in range(5):
        await clients().post(LOGIN, json={"email": locked.email, "password": "wrong password"})
    assert_error(await clients().post(LOGIN, json={"email": locked.email, "password": PASSWORD}), 429)
    ok = await clients().post(LOGIN, json={"email": other.email, "password": PASSWORD})
    assert ok.status_code == 200, ok.text


async def test_sixth_login_from_one_address_is_429_and_another_address_is_still_served(
    clients: ClientFactory, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    address = fresh_address()
    client = clients(address)
    credentials = {"email": owner.email, "password": PASSWORD}
    for remaining in (4, 3, 2, 1, 0):
        ok = await client.post(LOGIN, json=credentials)
        assert ok.status_code == 200, ok.text
        assert ok.headers["x-ratelimit-limit"] == "5"
        assert ok.headers["x-ratelimit-remaining"] == str(remaining)
    refused = await client.post(LOGIN, json=credentials)
    _assert_rate_limited(refused, 5, 900)
    assert "access_token" not in refused.text
    # A second connection from the same address is the same client.
    _assert_rate_limited(await clients(address).post(LOGIN, json=credentials), 5, 900)
    elsewhere = await clients().post(LOGIN, json=credentials)
    assert elsewhere.status_code == 200, elsewhere.text


async def test_61st_me_request_in_a_minute_is_429_and_another_token_is_unaffected(
    clients: ClientFactory, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    client = clients()
    for i in range(60):
        ok = await client.get(ME, headers=owner.bearer)
        assert ok.status_code == 200, (i, ok.text)
    assert ok.headers["x-ratelimit-remaining"] == "0"
    _assert_rate_limited(await client.get(ME, headers=owner.bearer), 60, 60)
    # The limit follows the token, not the address.
    _assert_rate_limited(await clients().get(ME, headers=owner.bearer), 60, 60)
    other = await client.get(ME, headers={"X-API-Key": key})
    assert other.status_code == 200
    assert other.headers["x-ratelimit-remaining"] == "59"


async def test_121st_admin_request_in_a_minute_is_429(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    for i in range(120):
        ok = await client.get(ADMIN_TENANTS, params={"limite": 1}, headers=admin.bearer)
        assert ok.status_code == 200, (i, ok.text)
    _assert_rate_limited(await client.get(ADMIN_TENANTS, headers=admin.bearer), 120, 60)
    # The same budget covers every /admin route.
    _assert_rate_limited(await client.get(f"{ADMIN_TENANTS}/{admin.tenant_id}", headers=admin.bearer), 120, 60)
    fresh = await accounts.admin()
    assert (await client.get(ADMIN_TENANTS, params={"limite": 1}, headers=fresh.bearer)).status_code == 200


async def test_allowed_requests_carry_the_rate_limit_headers(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    response = await client.get(ME, headers=owner.bearer)
    assert response.status_code == 200
    assert response.headers["x-ratelimit-limit"] == "60"
    assert response.headers["x-ratelimit-remaining"] == "59"
    assert 1 <= int(response.headers["x-ratelimit-reset"]) <= 60
