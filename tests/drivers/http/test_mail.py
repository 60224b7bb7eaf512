"""/api/emails over real sockets: mailboxes on verified domains (verified through the loopback DNS
server), passwords never shown, aliases with duplicates and loops refused."""

from __future__ import annotations

import httpx

from tests.dns_server import loopback_dns
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.drivers.http.test_domains import create

MAILBOXES = "/api/emails"
ALIASES = "/api/emails/aliases"
PASSWORD = "mailbox password 1"


async def verified_domain(client: httpx.AsyncClient, owner: Account) -> str:
    domain = await create(client, owner)
    record = domain["verification_record"]
    assert isinstance(record, dict)
    loopback_dns().publish_txt(record["name"], record["value"])
    verified = await client.post(f"/api/dominios/{domain['id']}/verificar", headers=owner.bearer)
    assert verified.json()["verification_status"] == "verified", verified.text
    return str(domain["name"])


async def test_mailbox_lifecycle_never_shows_a_password(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    h = owner.bearer
    domain = await verified_domain(client, owner)
    made = await client.post(MAILBOXES, json={"address": f"Ana@{domain}", "password": PASSWORD}, headers=h)
    assert made.status_code == 201, made.text
    box = made.json()
    assert box["address"] == f"ana@{domain}"
    assert not {k for k in box if "password" in k or "hash" in k}
    assert PASSWORD not in made.text
    url = f"{MAILBOXES}/{box['id']}"
    assert (await client.get(url, headers=h)).json() == box
    listed = (await client.get(MAILBOXES, headers=h)).json()
    assert [m["id"] for m in listed["items"]] == [box["id"]]
    bigger = await client.patch(url, json={"quota_bytes": 2 * 1024**3}, headers=h)
    assert bigger.json()["quota_bytes"] == 2 * 1024**3
    reset = await client.put(f"{url}/senha", json={"password": "another password 2"}, headers=h)
    assert reset.status_code == 200, reset.text
    assert "another password" not in reset.text
    assert_error(await client.put(f"{url}/senha", json={"password": "short"}, headers=h), 400, "validation_failed")
    assert (await client.delete(url, headers=h)).status_code == 204
    assert_error(await client.get(url, headers=h), 404, "mailbox_not_found")


async def test_a_mailbox_given_no_password_answers_a_generated_one_once(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    h = owner.bearer
    domain = await verified_domain(client, owner)
    made = await client.post(MAILBOXES, json={"address": f"gen@{domain}"}, headers=h)
    assert made.status_code == 201, made.text
    box = made.json()
    password = box.pop("password")
    assert len(password) == 24
    url = f"{MAILBOXES}/{box['id']}"
    shown = await client.get(url, headers=h)
    assert shown.json() == box
    assert password not in shown.text
    reset = await client.put(f"{url}/senha", json={}, headers=h)
    assert reset.status_code == 200, reset.text
    assert reset.json()["password"] not in (password, None)
    assert_error(await client.put(f"{url}/senha", json={"x": 1}, headers=h), 400, "validation_failed")


async def test_mailboxes_need_a_verified_domain(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    pending = await create(client, owner)
    body = {"address": f"ana@{pending['name']}", "password": PASSWORD}
    assert_error(await client.post(MAILBOXES, json=body, headers=owner.bearer), 422, "domain_not_verified")
    nowhere = {"address": "ana@not-mine.example.com", "password": PASSWORD}
    assert_error(await client.post(MAILBOXES, json=nowhere, headers=owner.bearer), 404, "domain_not_found")
    bad = {"address": "not an address", "password": PASSWORD}
    assert_error(await client.post(MAILBOXES, json=bad, headers=owner.bearer), 400, "validation_failed")  # the pattern


async def test_aliases_refuse_duplicates_and_loops(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    h = owner.bearer
    domain = await verified_domain(client, owner)
    a, b, c = (f"{n}@{domain}" for n in "abc")
    first = await client.post(ALIASES, json={"source": a, "destinations": [b, "x@gmail.com"]}, headers=h)
    assert first.status_code == 201, first.text
    assert first.json()["destinations"] == [b, "x@gmail.com"]
    assert_error(await client.post(ALIASES, json={"source": a, "destinations": [c]}, headers=h), 409, "alias_exists")
    await client.post(ALIASES, json={"source": b, "destinations": [c]}, headers=h)
    loop = await client.post(ALIASES, json={"source": c, "destinations": [a]}, headers=h)
    assert_error(loop, 409, "alias_loop")
    assert_error(await client.post(ALIASES, json={"source": c, "destinations": [c]}, headers=h), 409, "alias_loop")
    alias_url = f"{ALIASES}/{first.json()['id']}"
    assert (await client.get(alias_url, headers=h)).json() == first.json()
    updated = await client.patch(alias_url, json={"destinations": ["y@gmail.com"]}, headers=h)
    assert updated.json()["destinations"] == ["y@gmail.com"]
    listed = (await client.get(ALIASES, headers=h)).json()
    assert [x["source"] for x in listed["items"]] == [a, b]
    assert (await client.delete(alias_url, headers=h)).status_code == 204
    assert_error(await client.get(alias_url, headers=h), 404, "alias_not_found")
