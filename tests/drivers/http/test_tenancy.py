"""Multi-tenancy: another tenant's objects are 404, admin routes are for platform admins, suspension,
and X-User-Id for admin keys only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import PASSWORD, Account, Accounts, ClientFactory, KeyMinter, assert_error

ME = "/api/auth/me"
KEYS = "/api/auth/keys"
GENERATE = "/api/auth/keys/generate"
TENANTS = "/api/admin/tenants"
CURRENT = "/api/tenants/atual"


async def _mint(client: httpx.AsyncClient, account: Account, **fields: object) -> dict[str, Any]:
    response = await client.post(GENERATE, json={"name": "k", **fields}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_another_tenants_key_is_404_to_revoke_and_keeps_working(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    a_key = await _mint(client, a)
    b_key = await _mint(client, b)
    a_key_id = a_key["api_key"]["id"]
    assert_error(await client.delete(f"{KEYS}/{a_key_id}", headers=b.bearer), 404, "api_key_not_found")
    assert_error(await client.delete(f"{KEYS}/{a_key_id}", headers={"X-API-Key": b_key["key"]}), 404)
    still = await client.get(ME, headers={"X-API-Key": a_key["key"]})
    assert still.status_code == 200
    assert still.json()["tenant"]["id"] == a.tenant_id


async def test_key_list_shows_only_the_callers_tenant(client: httpx.AsyncClient, accounts: Accounts) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    a_ids = {(await _mint(client, a))["api_key"]["id"] for _ in range(2)}
    b_ids = {(await _mint(client, b))["api_key"]["id"] for _ in range(3)}
    a_list = (await client.get(KEYS, headers=a.bearer)).json()
    b_list = (await client.get(KEYS, headers=b.bearer)).json()
    assert {k["id"] for k in a_list["items"]} == a_ids
    assert a_list["total"] == 2
    assert {k["id"] for k in b_list["items"]} == b_ids
    assert b_list["total"] == 3


async def test_member_sees_and_revokes_only_their_own_keys_owner_sees_all(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    owner_key = (await _mint(client, owner))["api_key"]["id"]
    member_key = (await _mint(client, member))["api_key"]["id"]
    member_list = (await client.get(KEYS, headers=member.bearer)).json()
    assert [k["id"] for k in member_list["items"]] == [member_key]
    owner_list = (await client.get(KEYS, headers=owner.bearer)).json()
    assert {k["id"] for k in owner_list["items"]} == {owner_key, member_key}
    assert_error(await client.delete(f"{KEYS}/{owner_key}", headers=member.bearer), 404, "api_key_not_found")
    assert (await client.delete(f"{KEYS}/{member_key}", headers=owner.bearer)).status_code == 204


async def test_current_tenant_is_the_callers_own(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    a = await accounts.tenant_owner("Alpha")
    b = await accounts.tenant_owner("Beta")
    for account in (a, b):
        response = await client.get(CURRENT, headers=account.bearer)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == account.tenant_id
    key = await mint_key(b)
    by_key = await client.get(CURRENT, headers={"X-API-Key": key})
    assert by_key.json()["id"] == b.tenant_id
    assert by_key.json()["name"].startswith("Beta")


async def test_current_tenant_needs_credentials_and_tenant_read(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    assert_error(await client.get(CURRENT), 401, "missing_credentials")
    owner = await accounts.tenant_owner()
    key = await mint_key(owner, scopes=["profile:read"])
    assert_error(await client.get(CURRENT, headers={"X-API-Key": key}), 403, "insufficient_scope")


async def test_non_admins_get_403_on_every_admin_route(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    for headers in (owner.bearer, {"X-API-Key": key}):
        assert_error(await client.get(TENANTS, headers=headers), 403, "admin_only")
        assert_error(await client.post(TENANTS, json={"name": "Mine"}, headers=headers), 403, "admin_only")
        assert_error(await client.get(f"{TENANTS}/{owner.tenant_id}", headers=headers), 403, "admin_only")
        assert_error(await client.patch(f"{TENANTS}/{owner.tenant_id}", json={"plan": "pro"}, headers=headers), 403)
        assert_error(await client.post(f"{TENANTS}/{owner.tenant_id}/suspend", headers=headers), 403, "admin_only")
    assert_error(await client.get(TENANTS), 401, "missing_credentials")


async def test_admin_sees_unknown_tenant_as_404(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    assert_error(await client.get(f"{TENANTS}/01NOSUCHTENANT", headers=admin.bearer), 404, "tenant_not_found")
    assert_error(await client.post(f"{TENANTS}/01NOSUCHTENANT/suspend", headers=admin.bearer), 404)


async def test_an_admin_cannot_suspend_their_own_tenant(client: httpx.AsyncClient, accounts: Accounts) -> None:
    # It locked every administrator of that tenant out, with no way left to reactivate it.
    admin = await accounts.admin()
    assert_error(await client.post(f"{TENANTS}/{admin.tenant_id}/suspend", headers=admin.bearer), 409, "own_tenant")
    patched = await client.patch(f"{TENANTS}/{admin.tenant_id}", json={"status": "suspended"}, headers=admin.bearer)
    assert_error(patched, 409, "own_tenant")
    still = await client.get(CURRENT, headers=admin.bearer)
    assert still.status_code == 200, still.text
    assert still.json()["status"] == "active"


async def test_admin_creates_a_tenant_whose_owner_can_log_in(clients: ClientFactory, accounts: Accounts) -> None:
    admin = await accounts.admin()
    client = clients()
    email = f"new-owner-{admin.user_id[-6:].lower()}-{id(client)}@example.com"
    created = await client.post(
        TENANTS, json={"name": "Made Over HTTP", "owner_email": email, "owner_password": PASSWORD}, headers=admin.bearer
    )
    assert created.status_code == 201, created.text
    tenant = created.json()
    login = await clients().post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    me = await client.get(ME, headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["tenant"]["id"] == tenant["id"]
    assert me.json()["role"] == "owner"
    assert me.json()["user"]["is_platform_admin"] is False


async def test_suspension_refuses_existing_jwts_and_keys_at_once_and_reactivation_restores_them(
    clients: ClientFactory, accounts: Accounts, mint_key: KeyMinter
) -> None:
    client = clients()
    admin = await accounts.admin()
    tenant = await accounts.tenant_owner()
    bystander = await accounts.tenant_owner()
    key = await mint_key(tenant)
    credentials = [tenant.bearer, {"X-API-Key": key}]
    for headers in credentials:  # both are verified and cached before the suspension
        assert (await client.get(ME, headers=headers)).status_code == 200

    suspended = await client.post(f"{TENANTS}/{tenant.tenant_id}/suspend", headers=admin.bearer)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    for headers in credentials:
        assert_error(await client.get(ME, headers=headers), 403, "tenant_suspended")
        assert_error(await client.get(KEYS, headers=headers), 403, "tenant_suspended")
    login = await clients().post("/api/auth/login", json={"email": tenant.email, "password": PASSWORD})
    assert_error(login, 403, "tenant_suspended")
    assert_error(
        await clients().post("/api/auth/refresh", json={"refresh_token": tenant.refresh}), 403, "tenant_suspended"
    )
    assert (await client.get(ME, headers=bystander.bearer)).status_code == 200

    reactivated = await client.post(f"{TENANTS}/{tenant.tenant_id}/reactivate", headers=admin.bearer)
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["status"] == "active"
    for headers in credentials:
        assert (await client.get(ME, headers=headers)).status_code == 200


async def test_x_user_id_is_accepted_with_an_admin_tier_key(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    admin = await accounts.admin()
    key = await mint_key(admin, tier="admin")
    response = await client.get(ME, headers={"X-API-Key": key, "X-User-Id": "alice@example.com"})
    assert response.status_code == 200, response.text
    assert response.json()["acting_user_id"] == "alice@example.com"
    assert response.json()["tier"] == "admin"
    plain = await client.get(ME, headers={"X-API-Key": key})
    assert plain.json()["acting_user_id"] is None


async def test_x_user_id_is_403_with_a_jwt_or_a_standard_key(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    admin = await accounts.admin()
    owner = await accounts.tenant_owner()
    admin_standard_key = await mint_key(admin)
    owner_key = await mint_key(owner)
    for headers in (admin.bearer, owner.bearer, {"X-API-Key": admin_standard_key}, {"X-API-Key": owner_key}):
        response = await client.get(ME, headers={**headers, "X-User-Id": "alice@example.com"})
        assert_error(response, 403, "admin_key_required")


@pytest.mark.parametrize("value", [b"x" * 129, b"alice\xa0bob"], ids=["too-long", "non-printable"])
async def test_malformed_x_user_id_is_400(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter, value: bytes
) -> None:
    admin = await accounts.admin()
    key = await mint_key(admin, tier="admin")
    response = await client.get(ME, headers={b"X-API-Key": key.encode(), b"X-User-Id": value})
    assert_error(response, 400, "invalid_user_id")
