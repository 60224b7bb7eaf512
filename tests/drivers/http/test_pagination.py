"""?limite=1-500 (default 50) and ?offset>=0 on list routes; list bodies carry items/total/limite/offset."""

from __future__ import annotations

import httpx
import pytest

from tests.drivers.http.conftest import Account, Accounts, assert_error

KEYS = "/api/auth/keys"
TENANTS = "/api/admin/tenants"

BAD = [
    {"limite": "0"},
    {"limite": "501"},
    {"limite": "-1"},
    {"limite": "abc"},
    {"limite": "1.5"},
    {"limite": ""},
    {"limite": "99999999999999999999999"},
    {"offset": "-1"},
    {"offset": "abc"},
]


@pytest.mark.parametrize("params", BAD, ids=[f"{k}={v}" for p in BAD for k, v in p.items()])
async def test_bad_pagination_on_key_list_is_400(
    client: httpx.AsyncClient, shared_owner: Account, params: dict[str, str]
) -> None:
    assert_error(await client.get(KEYS, params=params, headers=shared_owner.bearer), 400)


@pytest.mark.parametrize("params", [{"limite": "0"}, {"limite": "501"}, {"offset": "-1"}], ids=str)
async def test_bad_pagination_on_admin_tenant_list_is_400(
    client: httpx.AsyncClient, accounts: Accounts, params: dict[str, str]
) -> None:
    admin = await accounts.admin()
    assert_error(await client.get(TENANTS, params=params, headers=admin.bearer), 400)


async def test_page_fields_and_window_are_right(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    ids = []
    for i in range(3):
        created = await client.post("/api/auth/keys/generate", json={"name": f"k{i}"}, headers=owner.bearer)
        ids.append(created.json()["api_key"]["id"])

    default = (await client.get(KEYS, headers=owner.bearer)).json()
    assert (default["total"], default["limite"], default["offset"]) == (3, 50, 0)
    assert [k["id"] for k in default["items"]] == ids[::-1], "newest first"

    window = (await client.get(KEYS, params={"limite": 2, "offset": 1}, headers=owner.bearer)).json()
    assert (window["total"], window["limite"], window["offset"]) == (3, 2, 1)
    assert [k["id"] for k in window["items"]] == ids[::-1][1:3]

    first = (await client.get(KEYS, params={"limite": 1}, headers=owner.bearer)).json()
    assert [k["id"] for k in first["items"]] == [ids[-1]]
    assert first["total"] == 3

    past = (await client.get(KEYS, params={"limite": 500, "offset": 10}, headers=owner.bearer)).json()
    assert (past["items"], past["total"], past["limite"], past["offset"]) == ([], 3, 500, 10)


async def test_admin_tenant_list_pages_through_every_tenant_once(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    total = (await client.get(TENANTS, params={"limite": 1}, headers=admin.bearer)).json()["total"]
    seen: list[str] = []
    for offset in range(0, total, 7):
        page = (await client.get(TENANTS, params={"limite": 7, "offset": offset}, headers=admin.bearer)).json()
        assert page["limite"] == 7
        assert page["offset"] == offset
        assert page["total"] == total
        seen += [t["id"] for t in page["items"]]
    assert len(seen) == total == len(set(seen))
