"""/api/agentes, /api/verticais and /api/conversas over real sockets, with the suite's scripted
OpenAI-compatible server as the model provider: a whole exchange with a tool call run as the user,
isolation (another user or tenant: 404), idempotent posting, archiving, deleting, bad input, and a
provider that fails."""

from __future__ import annotations

import json

import httpx

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.identity import Role
from tesserra_core.errors import Unavailable
from tests.drivers.http.chat.conftest import OPS
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.servers.scripted_model import ScriptedModelServer


async def _start(client: httpx.AsyncClient, account: Account, agent_id: str = OPS) -> str:
    response = await client.post("/api/conversas", json={"agent_id": agent_id}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_the_catalog_is_public(client: httpx.AsyncClient) -> None:
    agents = await client.get("/api/agentes")
    assert agents.status_code == 200, agents.text
    body = agents.json()
    assert {a["id"] for a in body["items"]} >= {OPS, "helpdesk"}
    assert body["limite"] == 50
    assert "instructions" not in body["items"][0]
    one = await client.get(f"/api/agentes/{OPS}")
    assert one.status_code == 200
    assert one.json()["tools"] == ["list_projects", "get_project", "list_domains", "delete_project"]
    assert_error(await client.get("/api/agentes/nope"), 404, "agent_not_found")
    narrowed = await client.get("/api/agentes", params={"vertical": "support"})
    assert [a["id"] for a in narrowed.json()["items"]] == ["helpdesk"]
    verticals = await client.get("/api/verticais")
    assert {v["id"] for v in verticals.json()["items"]} == {"operations", "support"}


async def test_a_whole_exchange_with_a_tool_call_run_as_the_user(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    other = await accounts.tenant_owner("Other")
    for account, name in ((owner, "nossa-loja"), (other, "loja-deles")):
        created = await client.post("/api/projetos", json={"name": name}, headers=account.bearer)
        assert created.status_code == 201, created.text
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    conversation = await _start(client, member)
    model.script(call("list_projects", {}), say("Vocês têm a nossa-loja."))

    response = await client.post(
        f"/api/conversas/{conversation}/mensagens", json={"content": "Quais projetos temos?"}, headers=member.bearer
    )

    assert response.status_code == 201, response.text
    reply = response.json()["reply"]
    assert reply["content"] == "Vocês têm a nossa-loja."
    assert reply["stop_reason"] == "answer"
    [record] = reply["tool_calls"]
    assert record["outcome"] == "ok"
    assert [p["name"] for p in json.loads(record["result"])["items"]] == ["nossa-loja"]
    assert reply["usage"]["estimated"] is True
    assert reply["usage"]["completion_tokens"] > 0
    first, second = model.requests
    assert first["model"] == "tiny-chat"
    assert first["stream"] is True
    assert first["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in first["tools"]] == [
        "list_projects",
        "get_project",
        "list_domains",
        "delete_project",
    ]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][2]["content"] == ""
    assert "loja-deles" not in json.dumps(second)
    listed = await client.get(f"/api/conversas/{conversation}/mensagens", headers=member.bearer)
    assert [(m["role"], m["content"]) for m in listed.json()["items"]] == [
        ("user", "Quais projetos temos?"),
        ("assistant", "Vocês têm a nossa-loja."),
    ]


async def test_another_users_or_tenants_conversation_is_404(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    mine = await _start(client, owner)
    colleague = await accounts.member(owner.tenant_id, Role.ADMIN)
    stranger = await accounts.tenant_owner("Stranger")
    for intruder in (colleague, stranger):
        headers = intruder.bearer
        assert_error(await client.get(f"/api/conversas/{mine}", headers=headers), 404, "conversation_not_found")
        assert_error(await client.get(f"/api/conversas/{mine}/mensagens", headers=headers), 404)
        posted = await client.post(f"/api/conversas/{mine}/mensagens", json={"content": "oi"}, headers=headers)
        assert_error(posted, 404, "conversation_not_found")
        assert_error(await client.patch(f"/api/conversas/{mine}", json={"title": "x"}, headers=headers), 404)
        assert_error(await client.delete(f"/api/conversas/{mine}", headers=headers), 404)
        assert (await client.get("/api/conversas", headers=headers)).json()["total"] == 0
    assert model.requests == []
    assert (await client.get(f"/api/conversas/{mine}", headers=owner.bearer)).status_code == 200


async def test_a_retried_post_with_the_same_idempotency_key_makes_no_second_message(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner, "helpdesk")
    model.script(say("uma vez"), say("duas vezes"))
    url, headers = f"/api/conversas/{conversation}/mensagens", {**owner.bearer, "Idempotency-Key": "msg-1"}

    first = await client.post(url, json={"content": "oi"}, headers=headers)
    again = await client.post(url, json={"content": "oi"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(model.requests) == 1
    listed = await client.get(url, headers=owner.bearer)
    assert listed.json()["total"] == 2


async def test_archive_then_delete(client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    archived = await client.patch(f"/api/conversas/{conversation}", json={"status": "archived"}, headers=owner.bearer)
    assert archived.json()["status"] == "archived"
    posted = await client.post(f"/api/conversas/{conversation}/mensagens", json={"content": "x"}, headers=owner.bearer)
    assert_error(posted, 409, "conversation_archived")
    only_archived = await client.get("/api/conversas", params={"status": "archived"}, headers=owner.bearer)
    assert [c["id"] for c in only_archived.json()["items"]] == [conversation]
    assert (await client.delete(f"/api/conversas/{conversation}", headers=owner.bearer)).status_code == 204
    assert_error(await client.get(f"/api/conversas/{conversation}", headers=owner.bearer), 404)
    assert model.requests == []


async def test_bad_input_is_400_and_an_unknown_agent_404(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    assert_error(await client.post("/api/conversas", json={"agent_id": "nope"}, headers=owner.bearer), 404)
    conversation = await _start(client, owner)
    url = f"/api/conversas/{conversation}/mensagens"
    assert_error(await client.post(url, json={"content": ""}, headers=owner.bearer), 400)
    assert_error(await client.post(url, json={"content": "   "}, headers=owner.bearer), 400, "empty_message")
    assert_error(await client.post(url, json={"content": "x", "role": "system"}, headers=owner.bearer), 400)
    assert_error(await client.post(url, json={"content": "a\x00b"}, headers=owner.bearer), 400)
    assert_error(await client.get("/api/conversas"), 401)


async def test_a_failing_provider_is_503_and_the_message_stays(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner, "helpdesk")
    model.script([Unavailable("overloaded")])
    url = f"/api/conversas/{conversation}/mensagens"

    assert_error(await client.post(url, json={"content": "oi"}, headers=owner.bearer), 503, "model_unavailable")

    items = (await client.get(url, headers=owner.bearer)).json()["items"]
    assert [(m["role"], m["status"]) for m in items] == [("user", "complete"), ("assistant", "failed")]
    assert items[1]["error"] == "the model provider is unavailable (HTTP 503)"


async def test_a_nul_the_model_writes_is_dropped_before_storing(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    """PostgreSQL refuses NUL in text; the model's slip must not become the user's 400."""
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner, "helpdesk")
    model.script(say("o\x00k"))
    response = await client.post(
        f"/api/conversas/{conversation}/mensagens", json={"content": "x"}, headers=owner.bearer
    )
    assert response.status_code == 201, response.text
    assert response.json()["reply"]["content"] == "ok"
