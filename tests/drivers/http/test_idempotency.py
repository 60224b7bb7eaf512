"""Idempotency-Key on creating POSTs: replay, reuse with another request, concurrent twins, scoping."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.drivers.http.conftest import Account, Accounts, ClientFactory, assert_error

GENERATE = "/api/auth/keys/generate"
KEYS = "/api/auth/keys"
TENANTS = "/api/admin/tenants"


def _idem(account: Account, key: str) -> dict[str, str]:
    return {**account.bearer, "Idempotency-Key": key}


async def _key_total(client: httpx.AsyncClient, account: Account) -> int:
    response = await client.get(KEYS, headers=account.bearer)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def _tenant_total(client: httpx.AsyncClient, admin: Account) -> int:
    response = await client.get(TENANTS, params={"limite": 1}, headers=admin.bearer)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


# --- POST /api/auth/keys/generate ----------------------------------------------------------------


async def test_key_generation_replays_the_first_response_for_the_same_key(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    headers = _idem(owner, f"k-{uuid.uuid4()}")
    first = await client.post(GENERATE, json={"name": "once"}, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    replay = await client.post(GENERATE, json={"name": "once"}, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert replay.headers["cache-control"] == "no-store"  # it carries the key's secret again
    assert await _key_total(client, owner) == 1


async def test_retry_sent_the_moment_the_first_response_arrives_is_a_replay(
    clients: ClientFactory, accounts: Accounts
) -> None:
    """The first response is stored before the client sees its end, so an immediate retry (here on
    another connection) is never refused as still in flight."""
    owner = await accounts.tenant_owner()
    first_client, retry_client = clients(), clients()
    for i in range(30):
        headers = _idem(owner, f"k-{uuid.uuid4()}")
        first = await first_client.post(GENERATE, json={"name": f"n{i}"}, headers=headers)
        assert first.status_code == 201, first.text
        retry = await retry_client.post(GENERATE, json={"name": f"n{i}"}, headers=headers)
        assert retry.status_code == 201, (i, retry.text)
        assert retry.headers["idempotent-replayed"] == "true"
    assert await _key_total(first_client, owner) == 30


async def test_same_idempotency_key_with_another_body_is_422(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    headers = _idem(owner, f"k-{uuid.uuid4()}")
    assert (await client.post(GENERATE, json={"name": "first"}, headers=headers)).status_code == 201
    reused = await client.post(GENERATE, json={"name": "second"}, headers=headers)
    assert_error(reused, 422, "idempotency_key_reused")
    assert await _key_total(client, owner) == 1


async def test_failed_request_is_replayed_too_without_creating_anything(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    headers = _idem(owner, f"k-{uuid.uuid4()}")
    first = await client.post(GENERATE, json={"name": "x", "tier": "admin"}, headers=headers)
    assert_error(first, 403, "tier_escalation")
    replay = await client.post(GENERATE, json={"name": "x", "tier": "admin"}, headers=headers)
    assert replay.status_code == 403
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["code"] == "tier_escalation"
    assert await _key_total(client, owner) == 0


async def _twenty_at_once(send: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(send() for _ in range(20))))


def _assert_one_winner(responses: list[httpx.Response]) -> None:
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [(r.status_code, r.text) for r in responses]
    created = [r for r in responses if r.status_code == 201]
    assert created, statuses
    assert len({r.content for r in created}) == 1, "every 201 is the one response, replayed"
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    for r in responses:
        if r.status_code == 409:
            assert_error(r, 409, "idempotency_in_flight")


async def test_twenty_concurrent_identical_key_generations_create_one_key(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    headers = _idem(owner, f"k-{uuid.uuid4()}")
    responses = await _twenty_at_once(lambda: client.post(GENERATE, json={"name": "race"}, headers=headers))
    _assert_one_winner(responses)
    assert await _key_total(client, owner) == 1


async def test_idempotency_key_longer_than_255_characters_is_400(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    too_long = await client.post(GENERATE, json={"name": "x"}, headers=_idem(owner, "k" * 256))
    assert_error(too_long, 400, "invalid_idempotency_key")
    assert await _key_total(client, owner) == 0
    longest = await client.post(GENERATE, json={"name": "x"}, headers=_idem(owner, "k" * 255))
    assert longest.status_code == 201, longest.text


async def test_empty_idempotency_key_is_400(client: httpx.AsyncClient, shared_owner: Account) -> None:
    response = await client.post(GENERATE, json={"name": "x"}, headers=_idem(shared_owner, ""))
    assert_error(response, 400, "invalid_idempotency_key")


async def test_different_principals_reuse_one_idempotency_key_independently(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    key = f"shared-{uuid.uuid4()}"
    first = await client.post(GENERATE, json={"name": "same"}, headers=_idem(a, key))
    second = await client.post(GENERATE, json={"name": "same"}, headers=_idem(b, key))
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json()["api_key"]["id"] != second.json()["api_key"]["id"]
    assert second.json()["api_key"]["created_by"] == b.user_id
    assert await _key_total(client, a) == 1
    assert await _key_total(client, b) == 1


async def test_without_idempotency_key_every_post_creates(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    for _ in range(2):
        assert (await client.post(GENERATE, json={"name": "twice"}, headers=owner.bearer)).status_code == 201
    assert await _key_total(client, owner) == 2


async def test_idempotency_key_without_credentials_is_401_not_a_claim(client: httpx.AsyncClient) -> None:
    response = await client.post(GENERATE, json={"name": "x"}, headers={"Idempotency-Key": "anon"})
    assert_error(response, 401, "missing_credentials")


# --- POST /api/admin/tenants -----------------------------------------------------------------------


async def test_tenant_creation_replays_the_first_response(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    before = await _tenant_total(client, admin)
    headers = _idem(admin, f"t-{uuid.uuid4()}")
    body = {"name": f"Idem {uuid.uuid4().hex[:8]}"}
    first = await client.post(TENANTS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = await client.post(TENANTS, json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert await _tenant_total(client, admin) == before + 1
    assert_error(
        await client.post(TENANTS, json={"name": "Another name"}, headers=headers), 422, "idempotency_key_reused"
    )
    assert await _tenant_total(client, admin) == before + 1


async def test_twenty_concurrent_identical_tenant_creations_create_one_tenant(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.admin()
    before = await _tenant_total(client, admin)
    headers = _idem(admin, f"t-{uuid.uuid4()}")
    body = {
        "name": f"Race {uuid.uuid4().hex[:8]}",
        "owner_email": f"race-{uuid.uuid4().hex[:8]}@example.com",
        "owner_password": "race password",
    }
    responses = await _twenty_at_once(lambda: client.post(TENANTS, json=body, headers=headers))
    _assert_one_winner(responses)
    assert await _tenant_total(client, admin) == before + 1


@pytest.mark.parametrize("length", [256, 1000])
async def test_overlong_idempotency_key_on_tenant_creation_is_400(
    client: httpx.AsyncClient, accounts: Accounts, length: int
) -> None:
    admin = await accounts.admin()
    before = await _tenant_total(client, admin)
    response = await client.post(TENANTS, json={"name": "Too long"}, headers=_idem(admin, "t" * length))
    assert_error(response, 400, "invalid_idempotency_key")
    assert await _tenant_total(client, admin) == before
