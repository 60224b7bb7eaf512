"""Every REST family's basic flow through HAProxy in front of three nodes (issue 15): whichever node
answers a step, it sees what another node wrote (one PostgreSQL), a revocation on one node holds on
all within a poll, another tenant's data is 404 everywhere, and an installed real MCP server
(mcp-server-time) answers a tool call on every node."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import Owner, client, login, new_owner, node_of
from tests.servers.cluster import ADMIN_EMAIL, ADMIN_PASSWORD, Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("time_server")]

TIME = "io.github.modelcontextprotocol-time"
PROBE = "test.tesserra-probe"


async def test_login_refresh_me_and_logout_whichever_node_answers(nodes: Cluster) -> None:
    async with client(nodes.url) as http:
        answered = set()
        login_answer = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert login_answer.status_code == 200, login_answer.text
        answered.add(node_of(login_answer))
        pair = login_answer.json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        for _ in range(len(nodes.nodes)):
            me = await http.get("/api/auth/me", headers=bearer)
            assert me.status_code == 200, me.text
            assert me.json()["user"]["email"] == ADMIN_EMAIL
            answered.add(node_of(me))
        refreshed = await http.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        answered.add(node_of(refreshed))
        # the refresh token was spent on one node: every other node refuses it too
        for _ in range(len(nodes.nodes)):
            again = await http.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert again.status_code == 401, again.text
            answered.add(node_of(again))
    assert answered == {n.name for n in nodes.nodes}


async def test_api_keys_minted_on_one_node_work_on_all_and_a_revocation_holds_on_all(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        made = await http.post("/api/auth/keys/generate", json={"name": "ci"}, headers=owner.bearer)
        assert made.status_code == 201, made.text
        key = {"X-API-Key": made.json()["key"]}
        for node in nodes.nodes:  # each node has the key cached after this
            async with client(node.url) as direct:
                me = await direct.get("/api/auth/me", headers=key)
                assert me.status_code == 200, (node.name, me.text)
        listed = await http.get("/api/auth/keys", headers=owner.bearer)
        assert [k["id"] for k in listed.json()["items"]] == [made.json()["api_key"]["id"]]
        revoked = await http.delete(f"/api/auth/keys/{made.json()['api_key']['id']}", headers=owner.bearer)
        assert revoked.status_code == 204, revoked.text
    # each node reads the revocation feed when PostgreSQL notifies it of the commit: well before its own
    # poll (every 2.5 s while notified; every 0.5 s only when its listening connection is down)
    deadline = time.monotonic() + 2
    for node in nodes.nodes:
        async with client(node.url) as direct:
            while (await direct.get("/api/auth/me", headers=key)).status_code != 401:
                assert time.monotonic() < deadline, f"{node.name} still accepts a revoked key"
                await asyncio.sleep(0.1)


async def test_projects_written_on_one_node_are_read_updated_and_deleted_on_the_others(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    other = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        created = await http.post("/api/projetos", json={"name": f"Loja {uuid.uuid4().hex[:6]}"}, headers=owner.bearer)
        assert created.status_code == 201, created.text
        url = f"/api/projetos/{created.json()['id']}"
        seen = {node_of(created)}
        for _ in range(len(nodes.nodes)):
            got = await http.get(url, headers=owner.bearer)
            assert got.json() == created.json()
            seen.add(node_of(got))
            assert (await http.get(url, headers=other.bearer)).status_code == 404  # another tenant's
        assert seen == {n.name for n in nodes.nodes}
        changed = await http.patch(url, json={"name": "Loja Nova"}, headers=owner.bearer)
        assert changed.status_code == 200, changed.text
        for _ in range(len(nodes.nodes)):
            assert (await http.get(url, headers=owner.bearer)).json()["name"] == "Loja Nova"
        listed = await http.get("/api/projetos", headers=owner.bearer)
        assert [p["id"] for p in listed.json()["items"]] == [created.json()["id"]]
        assert (await http.delete(url, headers=owner.bearer)).status_code == 204
        for _ in range(len(nodes.nodes)):
            assert (await http.get(url, headers=owner.bearer)).status_code == 404


async def test_domains_and_records_across_nodes(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        name = f"c{uuid.uuid4().hex[:10]}.com.br"
        created = await http.post("/api/dominios", json={"name": name}, headers=owner.bearer)
        assert created.status_code == 201, created.text
        url = f"/api/dominios/{created.json()['id']}"
        # the platform-wide uniqueness holds whichever node the second claim reaches
        rival = await new_owner(nodes.url)
        for _ in range(len(nodes.nodes)):
            taken = await http.post("/api/dominios", json={"name": name}, headers=rival.bearer)
            assert taken.status_code == 409, taken.text
        record = await http.post(
            f"{url}/registros", json={"name": "@", "type": "MX", "data": "10 mail"}, headers=owner.bearer
        )
        assert record.status_code == 201, record.text
        for _ in range(len(nodes.nodes)):
            records = await http.get(f"{url}/registros", headers=owner.bearer)
            assert [r["data"] for r in records.json()["items"]] == [f"10 mail.{name}."]
        assert (await http.delete(url, headers=owner.bearer)).status_code == 204
        for _ in range(len(nodes.nodes)):
            assert (await http.get(url, headers=owner.bearer)).status_code == 404


async def _settle(http: httpx.AsyncClient, owner: Owner, installation_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        answer = await http.get(f"/api/installations/{installation_id}", headers=owner.bearer)
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "installing":
            return dict(answer.json())
        assert time.monotonic() < deadline, answer.json()
        await asyncio.sleep(0.1)


async def _call_time(http: httpx.AsyncClient, owner: Owner, installation_id: str) -> httpx.Response:
    return await http.post(
        f"/api/installations/{installation_id}/tools/call",
        json={"name": "get_current_time", "arguments": {"timezone": "Europe/Paris"}},
        headers=owner.bearer,
    )


async def test_an_installed_tool_server_answers_a_call_on_every_node(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        installed = await http.post(
            f"/api/marketplace/tools/{TIME}/install", json={"config": {"TZ": "UTC"}}, headers=owner.bearer
        )
        assert installed.status_code == 202, installed.text
        ready = await _settle(http, owner, installed.json()["id"])
        assert ready["status"] == "ready", ready
        # through the balancer: every node in turn (round robin), each starting its own instance once
        answered = set()
        for _ in range(2 * len(nodes.nodes)):
            called = await _call_time(http, owner, ready["id"])
            assert called.status_code == 200, called.text
            assert called.json()["structured_content"]["timezone"] == "Europe/Paris"
            answered.add(node_of(called))
        assert answered == {n.name for n in nodes.nodes}
    # and on each node directly; a node runs at most one instance of the installation, and every node
    # lists all of them (its own from its runtime, the others' from their records)
    for node in nodes.nodes:
        async with client(node.url) as direct:
            called = await _call_time(direct, owner, ready["id"])
            assert called.status_code == 200, (node.name, called.text)
            containers = await direct.get("/api/containers", headers=owner.bearer)
            assert containers.status_code == 200, containers.text
            mine = [c for c in containers.json()["items"] if c["installation_id"] == ready["id"]]
            assert len(mine) == len(nodes.nodes), (node.name, containers.json())
            assert {c["state"] for c in mine} == {"running"}
    # removed through one node: within a poll of the revocation feed, no node serves it any more
    async with client(nodes.url) as http:
        assert (await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)).status_code == 204
    deadline = time.monotonic() + 5
    for node in nodes.nodes:
        async with client(node.url) as direct:
            while (gone := await _call_time(direct, owner, ready["id"])).status_code != 404:
                assert gone.status_code == 200, gone.text
                assert time.monotonic() < deadline, f"{node.name} still serves a removed installation"
                await asyncio.sleep(0.1)
            assert gone.json()["code"] == "installation_not_found"


async def test_the_admin_logs_in_on_each_node_directly(nodes: Cluster) -> None:
    """The nodes themselves (not only the balancer) serve the shared data: one first owner for all."""
    for node in nodes.nodes:
        async with client(node.url) as direct:
            token = await login(direct, ADMIN_EMAIL, ADMIN_PASSWORD)
            me = await direct.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["user"]["email"] == ADMIN_EMAIL


async def test_a_changed_installation_runs_with_its_new_settings_on_every_node(nodes: Cluster) -> None:
    """A PATCH reaches one node; every other node's instance of the server was started with the old
    settings, and must not answer another call with them."""
    owner = await new_owner(nodes.url)

    async def token_digest(http: httpx.AsyncClient, installation_id: str) -> str:
        called = await http.post(
            f"/api/installations/{installation_id}/tools/call",
            json={"name": "env_digest", "arguments": {"name": "PROBE_TOKEN"}},
            headers=owner.bearer,
        )
        assert called.status_code == 200, called.text
        return str(called.json()["content"][0]["text"])

    async with client(nodes.url) as http:
        installed = await http.post(
            f"/api/marketplace/tools/{PROBE}/install", json={"config": {"PROBE_TOKEN": "first"}}, headers=owner.bearer
        )
        assert installed.status_code == 202, installed.text
        installation = (await _settle(http, owner, installed.json()["id"]))["id"]
    for node in nodes.nodes:  # every node runs an instance with the first token
        async with client(node.url) as direct:
            assert await token_digest(direct, installation) == hashlib.sha256(b"first").hexdigest()
    async with client(nodes.url) as http:
        patched = await http.patch(
            f"/api/installations/{installation}", json={"config": {"PROBE_TOKEN": "second"}}, headers=owner.bearer
        )
        assert patched.status_code == 202, patched.text
        assert (await _settle(http, owner, installation))["status"] == "ready"
    deadline = time.monotonic() + 5  # a poll of the revocation feed
    for node in nodes.nodes:
        async with client(node.url) as direct:
            while (digest := await token_digest(direct, installation)) != hashlib.sha256(b"second").hexdigest():
                assert digest == hashlib.sha256(b"first").hexdigest(), digest
                assert time.monotonic() < deadline, f"{node.name} still runs the server with the old token"
                await asyncio.sleep(0.1)
