"""What a fuzz of the console routes (projects, resources, domains, zone files, mail, files, billing,
marketplace) found, kept as regressions, and a bounded, seeded fuzz of their bodies, query strings
and path parameters: never a 5xx, and every failure carries the documented error body."""

from __future__ import annotations

import asyncio
import random
import time

import httpx

from tesserra_core.domain.paging import MAX_OFFSET
from tests.drivers.http.conftest import Account, Accounts, ClientFactory, assert_error
from tests.drivers.http.test_files import files_url, leftovers, new_project, stored_keys
from tests.drivers.http.test_fuzz import _body, _headers
from tests.support import LiveServer

SEED = 20_261_122
LISTS = [
    "/api/projetos",
    "/api/dominios",
    "/api/emails",
    "/api/emails/aliases",
    "/api/installations",
    "/api/marketplace/tools",
    "/api/registry",
]
REQUESTS_PER_ACCOUNT = 50
"""Under the 60 a minute each token may send to the console routes, so bodies are really parsed."""


def _assert_handled(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (response.status_code, response.text, what)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


async def test_an_offset_past_a_signed_64_bit_integer_is_400(client: httpx.AsyncClient, accounts: Accounts) -> None:
    # It reached the database as is: SQLite cannot bind it (500), PostgreSQL's OFFSET is a bigint.
    owner = await accounts.tenant_owner()
    for path in LISTS:
        for offset in (MAX_OFFSET + 1, 10**23):
            response = await client.get(path, params={"offset": offset}, headers=owner.bearer)
            assert_error(response, 400, "validation_failed")
            assert "offset" in response.json()["detail"]
        last = await client.get(path, params={"offset": MAX_OFFSET, "limite": 1}, headers=owner.bearer)
        assert last.status_code == 200, last.text
        assert last.json()["items"] == []
        assert last.json()["offset"] == MAX_OFFSET


async def test_a_nul_character_in_an_id_or_a_text_is_a_client_error(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    # PostgreSQL refuses NUL in text (SQLSTATE 22021); the driver reported it as 503 database_unavailable.
    owner = await accounts.tenant_owner()
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, "/api/projetos/a%00b", json={}, headers=owner.bearer)
        assert response.status_code in (400, 404), response.text
        assert_error(response, response.status_code)
    for body in ({"name": "a\u0000b"}, {"name": "nul", "description": "a\u0000b"}):
        made = await client.post("/api/projetos", json=body, headers=owner.bearer)
        assert made.status_code in (201, 400), made.text  # SQLite keeps a NUL; PostgreSQL cannot
        if made.status_code == 400:
            assert_error(made, 400)


async def test_a_multipart_boundary_the_parser_refuses_is_400_and_nothing_is_kept(
    client: httpx.AsyncClient, accounts: Accounts, server: LiveServer
) -> None:
    # python-multipart refuses boundaries over 256 characters when the parser is built: that was a 500.
    owner = await accounts.tenant_owner()
    project = await new_project(client, owner)
    before = await stored_keys(server), await leftovers(server)
    boundary = "b" * 300
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--{boundary}--\r\n'
    ).encode()
    headers = {**owner.bearer, "content-type": f"multipart/form-data; boundary={boundary}"}
    assert_error(await client.post(files_url(project), content=body, headers=headers), 400, "invalid_multipart")
    listed = await client.get(files_url(project), headers=owner.bearer)
    assert listed.json()["total"] == 0
    assert (await stored_keys(server), await leftovers(server)) == before


async def test_a_long_zone_file_is_judged_in_linear_time_without_freezing_the_server(
    clients: ClientFactory, accounts: Accounts
) -> None:
    # dnspython's reader scanned every record read so far on each record: 20,000 lines (0.5 MB, under
    # the 1 MiB limit) held the event loop for minutes, and every other request with it.
    owner = await accounts.tenant_owner()
    client, other = clients(), clients()
    made = await client.post(
        "/api/dominios", json={"name": f"long{random.randrange(10**9)}.test"}, headers=owner.bearer
    )
    assert made.status_code == 201, made.text
    text = "".join(f"h{i} 300 IN A 10.0.{i // 256 % 256}.{i % 256}\n" for i in range(20_000))
    started = time.monotonic()
    url = f"/api/dominios/{made.json()['id']}/zonefile"
    upload = asyncio.create_task(client.put(url, content=text, headers={**owner.bearer, "Content-Type": "text/dns"}))
    await asyncio.sleep(0.2)
    health = await other.get("/health")
    assert health.status_code == 200
    assert_error(await upload, 400, "zone_too_large")
    assert time.monotonic() - started < 15


async def test_fuzzed_console_requests_never_answer_5xx(clients: ClientFactory, accounts: Accounts) -> None:
    rng = random.Random(SEED)
    client = clients()
    owner: Account | None = None
    project = domain = ""
    sent = 0

    async def fresh_owner() -> Account:
        nonlocal project, domain
        account = await accounts.tenant_owner()
        project = await new_project(client, account)
        made = await client.post(
            "/api/dominios", json={"name": f"fuzz{rng.randrange(10**9)}.test"}, headers=account.bearer
        )
        assert made.status_code == 201, made.text
        domain = made.json()["id"]
        return account

    for _ in range(240):
        if owner is None or sent >= REQUESTS_PER_ACCOUNT:
            owner, sent = await fresh_owner(), 2
        sent += 1
        roll = rng.random()
        if roll < 0.5:
            method, path = rng.choice(
                [
                    ("POST", "/api/projetos"),
                    ("PATCH", f"/api/projetos/{project}"),
                    ("POST", f"/api/projetos/{project}/recursos"),
                    ("PATCH", f"/api/dominios/{domain}"),
                    ("POST", f"/api/dominios/{domain}/registros"),
                    ("PUT", f"/api/dominios/{domain}/zonefile"),
                    ("POST", f"/api/dominios/{domain}/zonefile"),
                    ("POST", "/api/emails"),
                    ("POST", "/api/emails/aliases"),
                ]
            )
            body, headers = _body(rng), _headers(rng, owner.bearer)
            response = await client.request(method, path, content=body, headers=headers)
            _assert_handled(response, (method, path, body[:200], headers))
        elif roll < 0.8:
            path = rng.choice([*LISTS[:4], f"/api/projetos/{project}/recursos", f"/api/dominios/{domain}/registros"])
            value = rng.choice(["0", "501", "-1", "abc", "1e3", "", "%00", str(MAX_OFFSET + 1), str(2**64), "9" * 40])
            params = {rng.choice(["limite", "offset", "status"]): value}
            response = await client.get(path, params=params, headers=owner.bearer)
            _assert_handled(response, (path, params))
        else:
            weird = rng.choice(["%00", "..", "%2e%2e", "x" * 3000, "é中🔑", "%ff%fe", "a%0ab", "-1", "'--"])
            template = rng.choice(
                ["/api/projetos/{}", "/api/recursos/{}", "/api/dominios/{}/registros", "/api/emails/{}"]
            )
            method = rng.choice(["GET", "PATCH", "DELETE"])
            response = await client.request(method, template.format(weird), json={}, headers=owner.bearer)
            _assert_handled(response, (method, template, weird))
