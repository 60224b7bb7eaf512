"""Every /api/dominios, /api/emails and /api/projetos/{id}/arquivos endpoint answers 404 for
another tenant's objects (never 403), and changes nothing of theirs."""

from __future__ import annotations

import httpx

from tests.drivers.http.conftest import Accounts, assert_error
from tests.drivers.http.test_files import new_project
from tests.drivers.http.test_mail import verified_domain


async def test_another_tenants_objects_are_404_on_every_endpoint(client: httpx.AsyncClient, accounts: Accounts) -> None:
    a, b = await accounts.tenant_owner(), await accounts.tenant_owner()
    h = a.bearer
    name = await verified_domain(client, a)
    domain = (await client.get("/api/dominios", headers=h)).json()["items"][0]
    d = f"/api/dominios/{domain['id']}"
    record = (
        await client.post(f"{d}/registros", json={"name": "www", "type": "A", "data": "192.0.2.1"}, headers=h)
    ).json()
    box = (
        await client.post("/api/emails", json={"address": f"ana@{name}", "password": "pass word 12"}, headers=h)
    ).json()
    alias = (
        await client.post("/api/emails/aliases", json={"source": f"x@{name}", "destinations": ["y@z.com"]}, headers=h)
    ).json()
    project = await new_project(client, a)
    f = f"/api/projetos/{project}/arquivos"
    stored = (await client.post(f, params={"filename": "a.txt"}, content=b"hello", headers=h)).json()
    zone_before = (await client.get(f"{d}/zonefile", headers=h)).text

    record_body = {"name": "x", "type": "A", "data": "192.0.2.2"}
    calls = [
        ("GET", d, None),
        ("PATCH", d, {"default_ttl": 600}),
        ("DELETE", d, None),
        ("POST", f"{d}/verificar", None),
        ("GET", f"{d}/registros", None),
        ("POST", f"{d}/registros", record_body),
        ("PATCH", f"{d}/registros/{record['id']}", {"ttl": 600}),
        ("DELETE", f"{d}/registros/{record['id']}", None),
        ("GET", f"{d}/zonefile", None),
        ("PUT", f"{d}/zonefile", "www 300 IN A 192.0.2.9\n"),
        ("POST", f"{d}/zonefile", "www 300 IN A 192.0.2.9\n"),
        ("GET", f"/api/emails/{box['id']}", None),
        ("PATCH", f"/api/emails/{box['id']}", {"quota_bytes": 2 * 1024**2}),
        ("PUT", f"/api/emails/{box['id']}/senha", {"password": "stolen password"}),
        ("DELETE", f"/api/emails/{box['id']}", None),
        ("GET", f"/api/emails/aliases/{alias['id']}", None),
        ("PATCH", f"/api/emails/aliases/{alias['id']}", {"destinations": ["thief@evil.com"]}),
        ("DELETE", f"/api/emails/aliases/{alias['id']}", None),
        ("GET", f, None),
        ("POST", f"{f}?filename=b.txt", "planted"),
        ("GET", f"{f}/{stored['id']}", None),
        ("DELETE", f"{f}/{stored['id']}", None),
    ]
    for method, url, body in calls:
        kwargs: dict[str, object] = {"json": body} if isinstance(body, dict) else {"content": body}
        response = await client.request(method, url, headers=b.bearer, **kwargs)  # type: ignore[arg-type]
        assert_error(response, 404)

    # Nor do B's own mail endpoints reach A's domain.
    assert_error(
        await client.post("/api/emails", json={"address": f"b@{name}", "password": "pass word 12"}, headers=b.bearer),
        404,
    )
    alias_body = {"source": f"b@{name}", "destinations": ["y@z.com"]}
    assert_error(await client.post("/api/emails/aliases", json=alias_body, headers=b.bearer), 404)
    for listing in ("/api/dominios", "/api/emails", "/api/emails/aliases"):
        assert (await client.get(listing, headers=b.bearer)).json()["total"] == 0

    # A's objects are as they were.
    assert (await client.get(f"{d}/zonefile", headers=h)).text == zone_before
    assert (await client.get(f"/api/emails/{box['id']}", headers=h)).json() == box
    assert (await client.get(f"/api/emails/aliases/{alias['id']}", headers=h)).json() == alias
    assert (await client.get(f"{f}/{stored['id']}", headers=h)).content == b"hello"
    assert [x["name"] for x in (await client.get(f, headers=h)).json()["items"]] == ["a.txt"]
