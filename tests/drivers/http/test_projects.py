"""/api/projetos over real sockets: CRUD, filters, unique names, quotas (402, also under concurrent
creates), scopes, the console rate limit, idempotent creation, and the public catalog."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tesserra_core.domain.plans import FREE_LIMITS
from tests.drivers.http.conftest import Account, Accounts, KeyMinter, assert_error

PROJECTS = "/api/projetos"


async def _create(client: httpx.AsyncClient, account: Account, name: str, **more: object) -> dict[str, object]:
    response = await client.post(PROJECTS, json={"name": name, **more}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_get_list_update_delete(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    created = await _create(client, owner, "  Loja Online ", description="a shop")
    assert created["name"] == "Loja Online"
    assert created["status"] == "active"
    assert created["description"] == "a shop"
    pid = created["id"]

    got = await client.get(f"{PROJECTS}/{pid}", headers=owner.bearer)
    assert got.status_code == 200
    assert got.json() == created

    second = await _create(client, owner, "Blog")
    listed = (await client.get(PROJECTS, headers=owner.bearer)).json()
    assert [p["id"] for p in listed["items"]] == [second["id"], pid]  # newest first
    assert (listed["total"], listed["limite"], listed["offset"]) == (2, 50, 0)

    patched = await client.patch(
        f"{PROJECTS}/{pid}", json={"name": "Loja Nova", "status": "archived"}, headers=owner.bearer
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Loja Nova"
    assert patched.json()["status"] == "archived"
    assert patched.json()["created_at"] == created["created_at"]
    assert patched.json()["updated_at"] >= str(created["updated_at"])

    archived = (await client.get(PROJECTS, params={"status": "archived"}, headers=owner.bearer)).json()
    assert [p["id"] for p in archived["items"]] == [pid]
    by_name = (await client.get(PROJECTS, params={"name": "LOJA"}, headers=owner.bearer)).json()
    assert [p["id"] for p in by_name["items"]] == [pid]
    assert by_name["total"] == 1
    paged = (await client.get(PROJECTS, params={"limite": 1, "offset": 1}, headers=owner.bearer)).json()
    assert [p["id"] for p in paged["items"]] == [pid]
    assert paged["total"] == 2

    deleted = await client.delete(f"{PROJECTS}/{pid}", headers=owner.bearer)
    assert deleted.status_code == 204
    assert_error(await client.get(f"{PROJECTS}/{pid}", headers=owner.bearer), 404, "project_not_found")
    assert_error(await client.delete(f"{PROJECTS}/{pid}", headers=owner.bearer), 404, "project_not_found")


async def test_bad_input_is_400_naming_the_problem(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    # The name's pattern and length, as /openapi.json states them.
    assert_error(await client.post(PROJECTS, json={"name": "   "}, headers=owner.bearer), 400, "validation_failed")
    assert_error(await client.post(PROJECTS, json={"name": "x" * 101}, headers=owner.bearer), 400, "validation_failed")
    assert_error(await client.post(PROJECTS, json={}, headers=owner.bearer), 400, "validation_failed")
    assert_error(await client.post(PROJECTS, json={"name": "a", "owner": "x"}, headers=owner.bearer), 400)
    assert_error(await client.get(PROJECTS, params={"status": "gone"}, headers=owner.bearer), 400)
    assert_error(await client.get(PROJECTS, params={"limite": 501}, headers=owner.bearer), 400)
    pid = (await _create(client, owner, "Valid"))["id"]
    body = assert_error(await client.patch(f"{PROJECTS}/{pid}", json={"status": "deleted"}, headers=owner.bearer), 400)
    assert "status" in str(body["detail"])


async def test_names_are_unique_in_a_tenant_ignoring_case_and_free_across_tenants(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    await _create(client, a, "Loja")
    assert_error(await client.post(PROJECTS, json={"name": "LOJA"}, headers=a.bearer), 409, "project_name_taken")
    await _create(client, b, "loja")
    other = await _create(client, a, "Outra")
    renamed = await client.patch(f"{PROJECTS}/{other['id']}", json={"name": "loja "}, headers=a.bearer)
    assert_error(renamed, 409, "project_name_taken")


async def test_the_plans_project_quota_is_a_402_naming_it(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    limit = FREE_LIMITS.projects
    assert limit is not None
    for i in range(limit):
        await _create(client, owner, f"p{i}")
    body = assert_error(await client.post(PROJECTS, json={"name": "one more"}, headers=owner.bearer), 402)
    assert body["code"] == "subscription_required"
    assert "projects" in str(body["detail"])
    # deleting one frees a slot
    first = (await client.get(PROJECTS, headers=owner.bearer)).json()["items"][0]["id"]
    assert (await client.delete(f"{PROJECTS}/{first}", headers=owner.bearer)).status_code == 204
    await _create(client, owner, "one more")


async def test_concurrent_creates_never_pass_the_quota(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    limit = FREE_LIMITS.projects
    assert limit is not None
    responses = await asyncio.gather(
        *(client.post(PROJECTS, json={"name": f"race {i}"}, headers=owner.bearer) for i in range(limit + 5))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * limit + [402] * 5, [r.text for r in responses]
    listed = (await client.get(PROJECTS, headers=owner.bearer)).json()
    assert listed["total"] == limit


async def test_scopes_are_enforced(client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter) -> None:
    owner = await accounts.tenant_owner()
    pid = (await _create(client, owner, "Scoped"))["id"]
    reader = {"X-API-Key": await mint_key(owner, scopes=["projects:read"])}
    nobody = {"X-API-Key": await mint_key(owner, scopes=["profile:read"])}
    assert (await client.get(PROJECTS, headers=reader)).status_code == 200
    assert (await client.get(f"{PROJECTS}/{pid}", headers=reader)).status_code == 200
    assert_error(await client.post(PROJECTS, json={"name": "no"}, headers=reader), 403, "insufficient_scope")
    assert_error(await client.patch(f"{PROJECTS}/{pid}", json={"name": "no"}, headers=reader), 403)
    assert_error(await client.delete(f"{PROJECTS}/{pid}", headers=reader), 403, "insufficient_scope")
    assert_error(await client.get(PROJECTS, headers=nobody), 403, "insufficient_scope")
    assert_error(await client.get(f"{PROJECTS}/{pid}", headers=nobody), 403, "insufficient_scope")
    assert_error(await client.get(PROJECTS), 401, "missing_credentials")
    assert (await client.get(f"{PROJECTS}/{pid}", headers=owner.bearer)).json()["name"] == "Scoped"


async def test_another_tenants_project_is_404_everywhere_and_unchanged(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    project = await _create(client, a, "Private")
    pid = project["id"]
    for response in (
        await client.get(f"{PROJECTS}/{pid}", headers=b.bearer),
        await client.patch(f"{PROJECTS}/{pid}", json={"name": "Mine"}, headers=b.bearer),
        await client.delete(f"{PROJECTS}/{pid}", headers=b.bearer),
        await client.get(f"{PROJECTS}/{pid}/recursos", headers=b.bearer),
        await client.post(f"{PROJECTS}/{pid}/recursos", json={"type": "object_bucket", "name": "b"}, headers=b.bearer),
        await client.get(f"{PROJECTS}/{pid}/saude", headers=b.bearer),
    ):
        assert_error(response, 404, "project_not_found")
    assert (await client.get(PROJECTS, headers=b.bearer)).json()["total"] == 0
    assert (await client.get(f"{PROJECTS}/{pid}", headers=a.bearer)).json() == project


async def test_61st_console_request_in_a_minute_is_429_with_retry_after(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    bystander = await accounts.tenant_owner()
    for i in range(60):
        response = await client.get(PROJECTS, headers=owner.bearer)
        assert response.status_code == 200, (i, response.text)
        assert response.headers["x-ratelimit-limit"] == "60"
    refused = await client.get(PROJECTS, headers=owner.bearer)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert_error(await client.get(f"{PROJECTS}/anything", headers=owner.bearer), 429)
    assert_error(await client.get("/api/recursos/anything", headers=owner.bearer), 429)
    assert (await client.get(PROJECTS, headers=bystander.bearer)).status_code == 200


async def test_idempotency_key_replays_a_project_creation(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    headers = {**owner.bearer, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await client.post(PROJECTS, json={"name": "Once"}, headers=headers)
    replay = await client.post(PROJECTS, json={"name": "Once"}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert_error(await client.post(PROJECTS, json={"name": "Twice"}, headers=headers), 422, "idempotency_key_reused")
    assert (await client.get(PROJECTS, headers=owner.bearer)).json()["total"] == 1


async def test_the_catalog_is_public_and_lists_every_type_with_its_schema(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{PROJECTS}/catalogo")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"]
    types = {t["type"]: t for t in body["types"]}
    assert set(types) == {"web_app", "static_site", "postgres_database", "object_bucket", "cron_job", "mcp_server"}
    for t in types.values():
        assert t["schema"]["type"] == "object"
        assert "free" in t["plan_limits"]
        assert t["kind"] in ("container", "logical")
    assert types["web_app"]["schema"]["required"] == ["image", "port"]


async def test_openapi_documents_the_project_routes(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/api/projetos",
        "/api/projetos/catalogo",
        "/api/projetos/{project_id}",
        "/api/projetos/{project_id}/recursos",
        "/api/projetos/{project_id}/saude",
        "/api/recursos/{resource_id}",
        "/api/tenants/atual/saude",
    ):
        assert path in paths, path
    assert not paths["/api/projetos/catalogo"]["get"].get("security"), "the catalog is public"
    listing = paths["/api/projetos"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limite", "offset", "status", "name"}
    assert "429" in listing["responses"]
    create = paths["/api/projetos"]["post"]
    assert {"201", "402", "409"} <= set(create["responses"])
    assert "Idempotency-Key" in create["description"]
    assert "202" in paths["/api/projetos/{project_id}/recursos"]["post"]["responses"]
    assert "202" in paths["/api/recursos/{resource_id}"]["delete"]["responses"]
