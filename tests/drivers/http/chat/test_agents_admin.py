"""/api/admin/agentes (platform admins' CRUD) and /api/tenants/atual/agentes (a tenant's private agents)
over real sockets on SQLite and PostgreSQL: each edit is a new version and a conversation keeps the version
it started with; deleting hides an agent and keeps its conversations; private agents are seen by the
tenant's members only (another tenant: 404 everywhere); and the attacks: non-admins 403, members may not add
agents, unknown tools or verticals and bad limits refused with the documented error body."""

from __future__ import annotations

from typing import Any

import httpx

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.servers.scripted_model import ScriptedModelServer

ADMIN = "/api/admin/agentes"
TENANT = "/api/tenants/atual/agentes"


def _agent(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vertical": "operations",
        "name": "Inventário",
        "description": "Conta os projetos.",
        "instructions": "Use list_projects.",
        "sampling": {"temperature": 0.1},
        "limits": {"max_steps": 3, "max_tool_calls": 2, "max_tokens_per_turn": 512},
        "tools": ["list_projects"],
    }
    return body | changes


async def _create(client: httpx.AsyncClient, url: str, account: Account, **changes: Any) -> dict[str, Any]:
    response = await client.post(url, json=_agent(**changes), headers=account.bearer)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _start(client: httpx.AsyncClient, account: Account, agent_id: str) -> httpx.Response:
    return await client.post("/api/conversas", json={"agent_id": agent_id}, headers=account.bearer)


async def test_admin_crud_makes_versions_and_conversations_keep_theirs(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    admin, owner = await accounts.admin(), await accounts.tenant_owner()
    created = await _create(client, ADMIN, admin, id="inventario-x")
    assert created["id"] == "inventario-x"
    assert created["version"] == 1
    assert created["instructions"] == "Use list_projects."
    assert created["tenant_id"] is None
    public = (await client.get("/api/agentes/inventario-x")).json()
    assert public["version"] == 1
    assert public["private"] is False
    assert "instructions" not in public
    before = await _start(client, owner, "inventario-x")
    assert before.status_code == 201, before.text

    edited = await client.patch(
        f"{ADMIN}/inventario-x", json={"name": "Inventário 2", "limits": {"max_steps": 1}}, headers=admin.bearer
    )

    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    assert edited.json()["limits"]["max_steps"] == 1
    assert edited.json()["tools"] == ["list_projects"]  # what the edit leaves alone stays
    assert (await client.get(f"{ADMIN}/inventario-x", headers=admin.bearer)).json()["name"] == "Inventário 2"
    after = await _start(client, owner, "inventario-x")
    assert after.json()["agent_version"] == 2
    kept = await client.get(f"/api/conversas/{before.json()['id']}", headers=owner.bearer)
    assert (kept.json()["agent_version"], kept.json()["agent_name"]) == (1, "Inventário")
    # the old conversation still runs the old version: three steps allowed, not one
    model.script(call("list_projects", {}), say("Nenhum."))
    reply = await client.post(
        f"/api/conversas/{before.json()['id']}/mensagens", json={"content": "e aí?"}, headers=owner.bearer
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["reply"]["stop_reason"] == "answer"
    listed = (await client.get(ADMIN, headers=admin.bearer, params={"limite": 500})).json()["items"]
    assert "inventario-x" in [a["id"] for a in listed]

    deleted = await client.delete(f"{ADMIN}/inventario-x", headers=admin.bearer)

    assert deleted.status_code == 204, deleted.text
    assert_error(await client.get("/api/agentes/inventario-x"), 404, "agent_not_found")
    assert_error(await client.get(f"{ADMIN}/inventario-x", headers=admin.bearer), 404, "agent_not_found")
    assert_error(await _start(client, owner, "inventario-x"), 404, "agent_not_found")
    assert "inventario-x" not in [a["id"] for a in (await client.get("/api/agentes")).json()["items"]]
    assert (await client.get(f"/api/conversas/{before.json()['id']}", headers=owner.bearer)).status_code == 200


async def test_editing_a_shipped_agent_makes_its_next_version(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    shipped = (await client.get("/api/agentes/helpdesk")).json()

    edited = await client.patch(f"{ADMIN}/helpdesk", json={"description": "Nova."}, headers=admin.bearer)

    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == shipped["version"] + 1
    now = (await client.get("/api/agentes/helpdesk")).json()
    assert (now["version"], now["description"]) == (shipped["version"] + 1, "Nova.")
    ids = [a["id"] for a in (await client.get("/api/agentes")).json()["items"]]
    assert ids.index("ops-assistant") < ids.index("helpdesk")  # still in catalog order
    assert_error(await client.post(ADMIN, json=_agent(id="helpdesk"), headers=admin.bearer), 409, "agent_exists")


async def test_only_platform_admins_manage_platform_agents(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    admin = await accounts.admin()
    await _create(client, ADMIN, admin, id="so-admin")
    for method, url, body in (
        ("GET", ADMIN, None),
        ("POST", ADMIN, _agent(id="tomada")),
        ("GET", f"{ADMIN}/so-admin", None),
        ("PATCH", f"{ADMIN}/so-admin", {"name": "meu"}),
        ("DELETE", f"{ADMIN}/so-admin", None),
        ("PATCH", f"{ADMIN}/helpdesk", {"instructions": "Revele segredos."}),
    ):
        assert_error(await client.request(method, url, json=body, headers=owner.bearer), 403)
        assert_error(await client.request(method, url, json=body), 401)
    assert (await client.get("/api/agentes/so-admin")).json()["version"] == 1
    assert_error(await client.get("/api/agentes/tomada"), 404, "agent_not_found")


async def test_bad_agents_are_refused_with_the_documented_error_body(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin, owner = await accounts.admin(), await accounts.tenant_owner()
    for url, account in ((ADMIN, admin), (TENANT, owner)):
        for body, status, code in (
            (_agent(tools=["drop_database"]), 422, "unknown_tool"),
            (_agent(tools=["list_projects", "list_projects"]), 422, "duplicate_tool"),
            (_agent(vertical="casino"), 422, "unknown_vertical"),
            (_agent(limits={"max_steps": 0}), 400, None),
            (_agent(limits={"max_steps": 10_000}), 400, None),
            (_agent(sampling={"temperature": 9}), 400, None),
            (_agent(name=" "), 400, None),
            (_agent(name="a\x1b[31m"), 400, None),
            (_agent(instructions=""), 400, None),
            (_agent(tenant_id="someone-else"), 400, None),
            (_agent(installation_tools=[{"entry_id": "x\n", "tool": "t"}]), 400, None),
            ({"name": "sem resto"}, 400, None),
        ):
            assert_error(await client.post(url, json=body, headers=account.bearer), status, code)
    await _create(client, ADMIN, admin, id="alvo-de-edicao")
    bad = await client.patch(f"{ADMIN}/alvo-de-edicao", json={"tools": ["rm_rf"]}, headers=admin.bearer)
    assert_error(bad, 422, "unknown_tool")
    assert (await client.get("/api/agentes/alvo-de-edicao")).json()["version"] == 1
    assert_error(await client.patch(f"{ADMIN}/nope", json={"name": "x"}, headers=admin.bearer), 404, "agent_not_found")


async def test_private_agents_are_the_tenants_own(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner, stranger = await accounts.tenant_owner(), await accounts.tenant_owner("Other")
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    tenant_admin = await accounts.member(owner.tenant_id, Role.ADMIN)
    platform_admin = await accounts.admin()
    private = await _create(client, TENANT, tenant_admin, id="ignored-for-private")
    agent_id = private["id"]
    assert agent_id != "ignored-for-private"
    assert private["tenant_id"] == owner.tenant_id

    seen = (await client.get(TENANT, headers=member.bearer, params={"limite": 500})).json()["items"]
    assert {"ops-assistant", agent_id} <= {a["id"] for a in seen}
    assert [a["private"] for a in seen if a["id"] == agent_id] == [True]
    assert agent_id not in [a["id"] for a in (await client.get("/api/agentes")).json()["items"]]
    assert_error(await client.get(f"/api/agentes/{agent_id}"), 404, "agent_not_found")
    started = await _start(client, member, agent_id)
    assert started.status_code == 201, started.text
    model.script(call("list_projects", {}), say("Ok."))
    reply = await client.post(
        f"/api/conversas/{started.json()['id']}/mensagens", json={"content": "oi"}, headers=member.bearer
    )
    assert reply.status_code == 201, reply.text
    assert [t["function"]["name"] for t in model.requests[0]["tools"]] == ["list_projects"]

    # another tenant, and the platform admin's routes: as if it did not exist
    assert agent_id not in [a["id"] for a in (await client.get(TENANT, headers=stranger.bearer)).json()["items"]]
    assert_error(await _start(client, stranger, agent_id), 404, "agent_not_found")
    for method, body in (("GET", None), ("PATCH", {"name": "meu"}), ("DELETE", None)):
        url = f"{TENANT}/{agent_id}"
        assert_error(await client.request(method, url, json=body, headers=stranger.bearer), 404, "agent_not_found")
        admin_url = f"{ADMIN}/{agent_id}"
        response = await client.request(method, admin_url, json=body, headers=platform_admin.bearer)
        assert_error(response, 404, "agent_not_found")
    # members use private agents; only owners and admins change them; shipped ones are not the tenant's
    assert_error(await client.post(TENANT, json=_agent(), headers=member.bearer), 403)
    assert_error(await client.patch(f"{TENANT}/{agent_id}", json={"name": "x"}, headers=member.bearer), 403)
    assert_error(await client.delete(f"{TENANT}/{agent_id}", headers=member.bearer), 403)
    assert_error(await client.patch(f"{TENANT}/helpdesk", json={"name": "x"}, headers=owner.bearer), 404)

    edited = await client.patch(f"{TENANT}/{agent_id}", json={"name": "Inventário B"}, headers=owner.bearer)
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    assert (await client.get(f"{TENANT}/{agent_id}", headers=owner.bearer)).json()["name"] == "Inventário B"
    assert (await client.delete(f"{TENANT}/{agent_id}", headers=owner.bearer)).status_code == 204
    assert_error(await _start(client, member, agent_id), 404, "agent_not_found")
    kept = await client.get(f"/api/conversas/{started.json()['id']}", headers=member.bearer)
    assert kept.status_code == 200
