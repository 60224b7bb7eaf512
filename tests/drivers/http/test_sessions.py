"""Refresh-token rotation, reuse detection, and logout."""

from __future__ import annotations

import httpx
import pytest

from tests.drivers.http.conftest import Account, Accounts, ClientFactory, KeyMinter, assert_error, sign_in

ME = "/api/auth/me"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_refresh_rotates_to_a_working_pair(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    response = await _refresh(client, owner.refresh)
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"] != owner.refresh
    assert pair["access_token"] != owner.access
    me = await client.get(ME, headers=_bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["user"]["id"] == owner.user_id
    again = await _refresh(client, pair["refresh_token"])
    assert again.status_code == 200, again.text


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    clients: ClientFactory, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    client = clients()
    first = (await _refresh(client, owner.refresh)).json()
    second = (await _refresh(client, first["refresh_token"])).json()
    newest = _bearer(second["access_token"])
    assert (await client.get(ME, headers=newest)).status_code == 200  # cached by the resolver now

    replay = await _refresh(clients(), owner.refresh)
    assert_error(replay, 401, "refresh_token_reused")

    assert_error(await client.get(ME, headers=newest), 401, "session_revoked")
    assert_error(await client.get(ME, headers=owner.bearer), 401, "session_revoked")
    assert_error(await _refresh(clients(), second["refresh_token"]), 401, "session_revoked")


async def test_refresh_token_reuse_does_not_touch_other_sessions(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    other = await sign_in(accounts.uc, owner.email, owner.password)
    assert (await _refresh(client, owner.refresh)).status_code == 200
    assert_error(await _refresh(client, owner.refresh), 401, "refresh_token_reused")
    assert (await client.get(ME, headers=other.bearer)).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["", "no-dot", ".", "abc.", ".secret", "01NOSUCHTOKEN.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "x" * 300 + ".y"],
)
async def test_invalid_refresh_tokens_are_401(clients: ClientFactory, token: str) -> None:
    assert_error(await _refresh(clients(), token), 401, "invalid_refresh_token")


async def test_refresh_token_with_the_wrong_secret_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    token_id, _, secret = owner.refresh.partition(".")
    forged = f"{token_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    assert_error(await _refresh(client, forged), 401, "invalid_refresh_token")
    assert (await _refresh(client, owner.refresh)).status_code == 200, "a forged attempt must not burn the token"


@pytest.mark.parametrize(
    "body",
    [b"{", b"null", b"[]", b'{"refresh_token": 5}', b'{"token": "a.b"}', b'{"refresh_token": "a.b", "x": 1}'],
)
async def test_malformed_refresh_requests_are_400(clients: ClientFactory, body: bytes) -> None:
    response = await clients().post(REFRESH, content=body, headers={"content-type": "application/json"})
    assert_error(response, 400)


async def test_logout_revokes_the_access_token_and_its_refresh_token(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    assert (await client.get(ME, headers=owner.bearer)).status_code == 200
    response = await client.post(LOGOUT, headers=owner.bearer)
    assert response.status_code == 204, response.text
    assert_error(await client.get(ME, headers=owner.bearer), 401, "session_revoked")
    assert_error(await _refresh(client, owner.refresh), 401, "session_revoked")
    assert_error(await client.post(LOGOUT, headers=owner.bearer), 401, "session_revoked")


async def test_logout_ends_tokens_refreshed_earlier_in_the_same_session(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    rotated = (await _refresh(client, owner.refresh)).json()
    assert (await client.post(LOGOUT, headers=_bearer(rotated["access_token"]))).status_code == 204
    assert_error(await client.get(ME, headers=owner.bearer), 401, "session_revoked")
    assert_error(await _refresh(client, rotated["refresh_token"]), 401, "session_revoked")


async def test_logout_leaves_other_sessions_of_the_user_alone(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    second: Account = await sign_in(accounts.uc, owner.email, owner.password)
    assert (await client.post(LOGOUT, headers=owner.bearer)).status_code == 204
    assert (await client.get(ME, headers=second.bearer)).status_code == 200


async def test_logout_with_an_api_key_is_422_and_the_key_keeps_working(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    assert_error(await client.post(LOGOUT, headers={"X-API-Key": key}), 422, "not_a_session")
    assert (await client.get(ME, headers={"X-API-Key": key})).status_code == 200


async def test_logout_without_credentials_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(LOGOUT), 401, "missing_credentials")
