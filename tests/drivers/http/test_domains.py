"""/api/dominios over real sockets: domains, records, zone files, verification against a real DNS
server (loopback), platform-wide uniqueness (also under concurrency), quotas, scopes, rate limits."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.drivers.http.conftest import Account, Accounts, ClientFactory, KeyMinter, assert_error
from tests.unit.domain_support import REALISTIC_ZONE

DOMAINS = "/api/dominios"


def zone_name() -> str:
    return f"h{uuid.uuid4().hex[:10]}.com.br"


async def create(client: httpx.AsyncClient, account: Account, name: str | None = None) -> dict[str, object]:
    response = await client.post(DOMAINS, json={"name": name or zone_name()}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return dict(response.json())


def records_of(response: httpx.Response) -> set[tuple[str, str, int, str]]:
    assert response.status_code == 200, response.text
    return {(r["name"], r["type"], r["ttl"], r["data"]) for r in response.json()["items"]}


async def test_domain_and_record_lifecycle(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    h = owner.bearer
    domain = await create(client, owner, "Loja-Exemplo-" + uuid.uuid4().hex[:6] + ".COM.BR")
    assert str(domain["name"]).islower()
    assert domain["verification_status"] == "pending"
    url = f"{DOMAINS}/{domain['id']}"
    listed = (await client.get(DOMAINS, headers=h)).json()
    assert (listed["total"], listed["limite"], listed["offset"]) == (1, 50, 0)
    assert listed["items"][0] == domain
    assert (await client.get(url, headers=h)).json() == domain

    made = await client.post(f"{url}/registros", json={"name": "@", "type": "MX", "data": "10 mail"}, headers=h)
    assert made.status_code == 201, made.text
    assert made.json()["data"] == f"10 mail.{domain['name']}."
    record_url = f"{url}/registros/{made.json()['id']}"
    changed = await client.patch(record_url, json={"data": "20 mx.example.net.", "ttl": 600}, headers=h)
    assert changed.status_code == 200, changed.text
    assert records_of(await client.get(f"{url}/registros", headers=h)) == {("@", "MX", 600, "20 mx.example.net.")}

    patched = await client.patch(url, json={"default_ttl": 900}, headers=h)
    assert patched.json()["default_ttl"] == 900
    assert patched.json()["serial"] > domain["serial"]

    assert (await client.delete(record_url, headers=h)).status_code == 204
    assert_error(await client.delete(record_url, headers=h), 404, "record_not_found")
    assert (await client.delete(url, headers=h)).status_code == 204
    assert_error(await client.get(url, headers=h), 404, "domain_not_found")


async def test_bad_records_answer_400_naming_the_field(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    url = f"{DOMAINS}/{(await create(client, owner))['id']}/registros"
    # A name outside the zone is well formed but refused for this zone: 422 (semantic).
    outside = {"name": "www.elsewhere.org.", "type": "A", "data": "192.0.2.1"}
    assert "name" in str(
        assert_error(await client.post(url, json=outside, headers=owner.bearer), 422, "name_outside_zone")
    )
    cases = [
        ({"name": "www", "type": "SOA", "data": "x"}, "validation_failed", "type"),  # the schema's enum
        ({"name": "www", "type": "A", "data": "192.0.2.1", "ttl": 1}, "validation_failed", "ttl"),  # the schema's bound
    ]
    for body, code, field in cases:
        detail = assert_error(await client.post(url, json=body, headers=owner.bearer), 400, code)["detail"]
        assert field in str(detail)
    # Data that does not parse as its type: a relation between two fields, 422 (semantic).
    bad_data = await client.post(url, json={"name": "www", "type": "A", "data": "999.0.0.1"}, headers=owner.bearer)
    assert "data" in str(assert_error(bad_data, 422, "invalid_record_data")["detail"])
    await client.post(url, json={"name": "www", "type": "A", "data": "192.0.2.1"}, headers=owner.bearer)
    clash = await client.post(url, json={"name": "www", "type": "CNAME", "data": "x.net."}, headers=owner.bearer)
    assert_error(clash, 422, "cname_conflict")  # depends on the records already there: semantic
    twice = await client.post(url, json={"name": "www", "type": "A", "data": "192.0.2.1"}, headers=owner.bearer)
    assert_error(twice, 409, "duplicate_record")
    assert_error(await client.post(url, json={"name": "www", "type": "A"}, headers=owner.bearer), 400)


async def test_zone_file_round_trip_over_http(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    domain = await create(client, owner)
    url = f"{DOMAINS}/{domain['id']}"
    text = REALISTIC_ZONE.format(zone=domain["name"])
    imported = await client.put(f"{url}/zonefile", content=text, headers={**owner.bearer, "Content-Type": "text/dns"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["records"] == 17
    first = records_of(await client.get(f"{url}/registros?limite=500", headers=owner.bearer))

    exported = await client.get(f"{url}/zonefile", headers=owner.bearer)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/dns")
    serial = int(exported.headers["x-zone-serial"])
    assert f" IN SOA ns1 hostmaster {serial} " in exported.text
    again = await client.post(
        f"{url}/zonefile", content=exported.text, headers={**owner.bearer, "Content-Type": "text/plain"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["domain"]["serial"] > serial
    assert records_of(await client.get(f"{url}/registros?limite=500", headers=owner.bearer)) == first


async def test_a_bad_zone_file_is_400_with_the_line_and_imports_nothing(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    url = f"{DOMAINS}/{(await create(client, owner))['id']}"
    await client.put(f"{url}/zonefile", content="keep 300 IN A 192.0.2.1\n", headers=owner.bearer)
    bad = 'ok 300 IN A 192.0.2.2\nalso 300 IN TXT "fine"\n\nbroken 300 IN AAAA 192.0.2.3\n'
    body = assert_error(
        await client.put(f"{url}/zonefile", content=bad, headers=owner.bearer), 400, "invalid_zone_file"
    )
    assert "line 4" in str(body["detail"])
    not_utf8 = await client.put(f"{url}/zonefile", content=b'www IN TXT "\xff"\n', headers=owner.bearer)
    assert_error(not_utf8, 400, "invalid_zone_file")
    assert records_of(await client.get(f"{url}/registros", headers=owner.bearer)) == {("keep", "A", 300, "192.0.2.1")}


async def test_verification_asks_a_real_dns_server(client: httpx.AsyncClient, accounts: Accounts) -> None:
    from tests.dns_server import loopback_dns

    owner = await accounts.tenant_owner()
    domain = await create(client, owner)
    verify = f"{DOMAINS}/{domain['id']}/verificar"
    failed = await client.post(verify, headers=owner.bearer)
    assert failed.status_code == 200, failed.text
    assert failed.json()["verification_status"] == "failed"
    assert failed.json()["last_checked_at"] is not None
    record = domain["verification_record"]
    assert isinstance(record, dict)
    loopback_dns().publish_txt(record["name"], "v=something-else", record["value"])
    verified = (await client.post(verify, headers=owner.bearer)).json()
    assert verified["verification_status"] == "verified"
    assert verified["verified_at"] is not None


async def test_a_second_tenant_claiming_a_name_gets_409_even_at_the_same_moment(
    clients: ClientFactory, accounts: Accounts
) -> None:
    a, b = await accounts.tenant_owner(), await accounts.tenant_owner()
    taken = await create(clients(), a)
    assert_error(await clients().post(DOMAINS, json={"name": str(taken["name"]).upper()}, headers=b.bearer), 409)

    racers = [await accounts.tenant_owner() for _ in range(4)]
    name = zone_name()
    responses = await asyncio.gather(*(clients().post(DOMAINS, json={"name": name}, headers=r.bearer) for r in racers))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "domain_taken")


async def test_the_plan_allows_one_domain_402_names_the_quota(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    await create(client, owner)
    body = assert_error(await client.post(DOMAINS, json={"name": zone_name()}, headers=owner.bearer), 402)
    assert "domains" in str(body["detail"])


async def test_creating_a_domain_is_idempotent(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    headers = {**owner.bearer, "Idempotency-Key": uuid.uuid4().hex}
    body = {"name": zone_name()}
    first = await client.post(DOMAINS, json=body, headers=headers)
    again = await client.post(DOMAINS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert (await client.get(DOMAINS, headers=owner.bearer)).json()["total"] == 1


async def test_scopes_guard_reads_and_writes(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    domain = await create(client, owner)
    reader = {"X-API-Key": await mint_key(owner, scopes=["domains:read"])}
    assert (await client.get(f"{DOMAINS}/{domain['id']}/zonefile", headers=reader)).status_code == 200
    denied = await client.post(
        f"{DOMAINS}/{domain['id']}/registros", json={"name": "a", "type": "A", "data": "192.0.2.1"}, headers=reader
    )
    assert_error(denied, 403, "insufficient_scope")
    assert_error(await client.put(f"{DOMAINS}/{domain['id']}/zonefile", content="", headers=reader), 403)
    nothing = {"X-API-Key": await mint_key(owner, scopes=["profile:read"])}
    assert_error(await client.get(DOMAINS, headers=nothing), 403, "insufficient_scope")
    assert_error(await client.get(DOMAINS), 401)


async def test_domains_are_rate_limited_per_token(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    statuses = [(await client.get(DOMAINS, headers=owner.bearer)).status_code for _ in range(60)]
    assert statuses == [200] * 60
    limited = await client.get(DOMAINS, headers=owner.bearer)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit"] == "60"
    other = await accounts.tenant_owner()
    assert (await client.get(DOMAINS, headers=other.bearer)).status_code == 200


async def test_a_dns_server_that_never_answers_is_503_and_changes_nothing(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    domain = await create(client, owner, f"h{uuid.uuid4().hex[:8]}.blackhole")  # the test server never answers these
    started = asyncio.get_running_loop().time()
    response = await client.post(f"{DOMAINS}/{domain['id']}/verificar", headers=owner.bearer)
    assert asyncio.get_running_loop().time() - started < 5
    assert_error(response, 503, "dns_unavailable")
    after = (await client.get(f"{DOMAINS}/{domain['id']}", headers=owner.bearer)).json()
    assert (after["verification_status"], after["last_checked_at"]) == ("pending", None)


async def test_oversized_zone_files_are_refused_before_parsing(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    url = f"{DOMAINS}/{(await create(client, owner))['id']}/zonefile"
    big = "; comment\n" * 200_000  # 2 MB: over the core's 1 Mi characters
    assert_error(await client.put(url, content=big, headers=owner.bearer), 400, "zone_too_large")
    huge = b"; x\n" * (1024 * 1024 + 1)  # over the route's 4 MiB body limit
    assert_error(await client.put(url, content=huge, headers=owner.bearer), 413)


async def test_the_tenant_health_report_includes_each_domain(client: httpx.AsyncClient, accounts: Accounts) -> None:
    from tests.dns_server import loopback_dns

    owner = await accounts.tenant_owner()
    domain = await create(client, owner)
    record = domain["verification_record"]
    assert isinstance(record, dict)
    loopback_dns().publish_txt(record["name"], record["value"])
    await client.post(f"{DOMAINS}/{domain['id']}/verificar", headers=owner.bearer)
    report = (await client.get("/api/tenants/atual/saude", headers=owner.bearer)).json()
    [item] = [i for i in report["items"] if i["kind"] == "domain"]
    assert (item["id"], item["status"], item["state"]) == (domain["id"], "degraded", "verified")
    assert item["reasons"] == [f"{domain['name']} has no A or AAAA record"]
    loopback_dns().publish(str(domain["name"]), "A", "192.0.2.80")
    report = (await client.get("/api/tenants/atual/saude", headers=owner.bearer)).json()
    [item] = [i for i in report["items"] if i["kind"] == "domain"]
    assert (item["status"], item["reasons"]) == ("ok", [])


async def test_concurrent_claims_by_one_tenant_stay_within_its_quota(
    clients: ClientFactory, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    responses = await asyncio.gather(
        *(clients().post(DOMAINS, json={"name": zone_name()}, headers=owner.bearer) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 402, 402, 402], [r.text for r in responses]
    assert (await clients().get(DOMAINS, headers=owner.bearer)).json()["total"] == 1
