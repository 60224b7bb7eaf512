"""/api/projetos/{id}/recursos, /api/recursos/{id} and the health endpoints over real sockets, with
the server's default container runtime (local processes): a web app is provisioned in the
background, answers on its published loopback port, is checked, stopped, and deleted."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import httpx

from tests.drivers.http.conftest import Account, Accounts, assert_error

PROJECTS = "/api/projetos"
RESOURCES = "/api/recursos"
TENANT_HEALTH = "/api/tenants/atual/saude"

# The process runtime ignores the image and hands the app its port in PORT.
APP = "import http.server as h, os; h.test(h.SimpleHTTPRequestHandler, port=int(os.environ['PORT']), bind='127.0.0.1')"
SERVE = [sys.executable, "-c", APP]
WEB = {"image": "unused-by-processes", "port": 8000, "command": SERVE}


async def _project(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post(PROJECTS, json={"name": f"p-{uuid.uuid4().hex[:8]}"}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _until(
    client: httpx.AsyncClient, account: Account, rid: str, wanted: set[str], within: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"{RESOURCES}/{rid}", headers=account.bearer)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in wanted:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def test_a_web_app_is_provisioned_answers_is_checked_stopped_and_deleted(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    pid = await _project(client, owner)
    created = await client.post(
        f"{PROJECTS}/{pid}/recursos", json={"type": "web_app", "name": "site", "config": WEB}, headers=owner.bearer
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["status"] == "pending"
    assert body["project_id"] == pid
    rid = body["id"]

    running = await _until(client, owner, rid, {"running", "failed"})
    assert running["status"] == "running", running
    endpoint = running["endpoint"]
    assert endpoint.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(timeout=5) as direct:
        for _ in range(100):  # the app binds its port a moment after it starts
            try:
                answer = await direct.get(endpoint + "/")
                break
            except httpx.TransportError:  # refused, or (through the sandbox's pasta) accepted then closed
                await asyncio.sleep(0.1)
    assert answer.status_code == 200

    listed = (await client.get(f"{PROJECTS}/{pid}/recursos", headers=owner.bearer)).json()
    assert [r["id"] for r in listed["items"]] == [rid]
    assert listed["total"] == 1

    health = await client.get(f"{PROJECTS}/{pid}/saude", headers=owner.bearer)
    assert health.status_code == 200, health.text
    report = health.json()
    assert report["status"] == "ok", report
    (item,) = report["items"]
    assert item["runtime_state"] == "running"
    assert item["latency_ms"] >= 0
    assert item["checked_at"]
    tenant = (await client.get(TENANT_HEALTH, headers=owner.bearer)).json()
    assert [i["id"] for i in tenant["items"]] == [rid]
    assert tenant["status"] == "ok"

    stopped = await client.patch(f"{RESOURCES}/{rid}", json={"state": "stopped"}, headers=owner.bearer)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    async with httpx.AsyncClient(timeout=2) as direct:
        refused = False
        for _ in range(50):
            try:
                await direct.get(endpoint + "/")
            except httpx.HTTPError:
                refused = True
                break
            await asyncio.sleep(0.1)
    assert refused

    deleting = await client.delete(f"{RESOURCES}/{rid}", headers=owner.bearer)
    assert deleting.status_code == 202, deleting.text
    assert deleting.json()["status"] == "deleting"
    deadline = time.monotonic() + 20
    while (await client.get(f"{RESOURCES}/{rid}", headers=owner.bearer)).status_code != 404:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_a_provisioning_failure_is_recorded_with_its_reason(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    pid = await _project(client, owner)
    config = {**WEB, "command": ["/nonexistent/tesserra-test-binary"]}
    created = await client.post(
        f"{PROJECTS}/{pid}/recursos", json={"type": "web_app", "name": "broken", "config": config}, headers=owner.bearer
    )
    assert created.status_code == 202, created.text
    failed = await _until(client, owner, created.json()["id"], {"failed", "running"})
    assert failed["status"] == "failed", failed
    assert failed["status_reason"]
    report = (await client.get(f"{PROJECTS}/{pid}/saude", headers=owner.bearer)).json()
    assert report["status"] == "down"
    assert report["reasons"]


async def test_bad_config_is_422_and_bad_input_400_naming_the_field(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    pid = await _project(client, owner)
    url = f"{PROJECTS}/{pid}/recursos"
    # Whether a config fits depends on its type (the type's schema at /api/projetos/catalogo): semantic, 422.
    cases = [
        (
            {"type": "web_app", "name": "x", "config": {"image": "i", "port": "80"}},
            "config.port",
            422,
            "invalid_config",
        ),
        ({"type": "web_app", "name": "x", "config": {"port": 80}}, "config.image", 422, "invalid_config"),
        (
            {"type": "cron_job", "name": "x", "config": {"image": "i", "command": ["a"], "schedule": "x"}},
            "config.schedule",
            422,
            "invalid_config",
        ),
        ({"type": "web_app", "name": "x", "config": {**WEB, "memory_mb": "lots"}}, "config.memory_mb", 422, None),
        ({"type": "mainframe", "name": "x"}, "type", 422, "unknown_type"),
        ({"type": "web_app", "name": "x", "config": []}, "config", 400, None),
        ({"type": "web_app", "name": "", "config": WEB}, "name", 400, "validation_failed"),
    ]
    for body, field, status, code in cases:
        error = assert_error(await client.post(url, json=body, headers=owner.bearer), status, code)
        assert field in str(error["detail"]), error
    assert (await client.get(url, headers=owner.bearer)).json()["total"] == 0
    big = {"type": "web_app", "name": "big", "config": {**WEB, "memory_mb": 4096}}
    error = assert_error(await client.post(url, json=big, headers=owner.bearer), 402, "subscription_required")
    assert "web_app.memory_mb" in str(error["detail"])


async def test_the_resource_quota_is_402(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    pid = await _project(client, owner)
    url = f"{PROJECTS}/{pid}/recursos"
    for i in range(10):
        response = await client.post(url, json={"type": "object_bucket", "name": f"b{i}"}, headers=owner.bearer)
        assert response.status_code == 202, response.text
    error = assert_error(
        await client.post(url, json={"type": "object_bucket", "name": "b10"}, headers=owner.bearer), 402
    )
    assert "quota resources exceeded" in str(error["detail"])
    bucket = await _until(client, owner, response.json()["id"], {"running"})
    assert "logical resource" in bucket["status_reason"]


async def test_another_tenants_resource_is_404_everywhere_and_unchanged(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    pid = await _project(client, a)
    created = await client.post(
        f"{PROJECTS}/{pid}/recursos", json={"type": "object_bucket", "name": "mine"}, headers=a.bearer
    )
    rid = created.json()["id"]
    for response in (
        await client.get(f"{RESOURCES}/{rid}", headers=b.bearer),
        await client.patch(f"{RESOURCES}/{rid}", json={"name": "theirs"}, headers=b.bearer),
        await client.delete(f"{RESOURCES}/{rid}", headers=b.bearer),
    ):
        assert_error(response, 404, "resource_not_found")
    assert (await client.get(TENANT_HEALTH, headers=b.bearer)).json()["items"] == []
    mine = await _until(client, a, rid, {"running"})
    assert mine["name"] == "mine"


async def test_resource_creation_is_idempotent(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    pid = await _project(client, owner)
    headers = {**owner.bearer, "Idempotency-Key": f"r-{uuid.uuid4()}"}
    body = {"type": "postgres_database", "name": "db"}
    first = await client.post(f"{PROJECTS}/{pid}/recursos", json=body, headers=headers)
    again = await client.post(f"{PROJECTS}/{pid}/recursos", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert (await client.get(f"{PROJECTS}/{pid}/recursos", headers=owner.bearer)).json()["total"] == 1


async def test_health_endpoints_need_credentials_and_scopes(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    pid = await _project(client, owner)
    assert_error(await client.get(TENANT_HEALTH), 401)
    assert_error(await client.get(f"{PROJECTS}/{pid}/saude"), 401)
    assert_error(await client.get(f"{RESOURCES}/anything"), 401)
    assert_error(await client.get(f"{RESOURCES}/01NOSUCHRESOURCE", headers=owner.bearer), 404, "resource_not_found")
    empty = (await client.get(f"{PROJECTS}/{pid}/saude", headers=owner.bearer)).json()
    assert empty == {**empty, "status": "ok", "reasons": [], "items": []}
