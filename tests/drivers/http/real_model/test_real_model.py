"""A real model end to end: SmolLM2-135M-Instruct behind llama-cpp-python's OpenAI-compatible server,
through the REST API of a live server. Its wording is not checked (a 135M model's is not stable across
builds), only what the platform guarantees: the tool calls it asked for ran as the user through the same
use case as the REST call, the answer's shape, the step limit, and the streamed events.

These tests run last (tests/conftest.py) and wait for the model's virtualenv that ``nox -s tests`` builds in
the background (tests/servers/real_model.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.drivers.http.conftest import Account, Accounts
from tests.drivers.http.real_model.conftest import LISTER, STEPPER

ASK = "What are my projects? Use the list_projects tool."


def _events(body: bytes) -> list[tuple[int, str, Any]]:
    events = []
    for frame in body.decode().split("\n\n"):
        if frame:
            id_line, event_line, data_line = frame.split("\n")
            events.append((int(id_line[4:]), event_line[7:], json.loads(data_line[6:])))
    return events


async def _conversation(client: httpx.AsyncClient, account: Account, agent_id: str) -> str:
    response = await client.post("/api/conversas", json={"agent_id": agent_id}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _owner_with_projects(client: httpx.AsyncClient, accounts: Accounts) -> Account:
    owner = await accounts.tenant_owner()
    other = await accounts.tenant_owner("Other")
    for account, name in ((owner, "nossa-loja"), (other, "loja-deles")):
        created = await client.post("/api/projetos", json={"name": name}, headers=account.bearer)
        assert created.status_code == 201, created.text
    return owner


async def test_the_real_model_calls_a_real_tool_as_the_user_and_answers(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await _owner_with_projects(client, accounts)
    conversation = await _conversation(client, owner, LISTER)

    response = await client.post(
        f"/api/conversas/{conversation}/mensagens", json={"content": ASK}, headers=owner.bearer
    )

    assert response.status_code == 201, response.text
    reply = response.json()["reply"]
    assert reply["status"] == "complete"
    assert reply["content"]
    assert reply["stop_reason"] in {"answer", "step_limit", "tool_call_limit"}
    calls = reply["tool_calls"]
    assert calls, reply
    assert {c["name"] for c in calls} == {"list_projects"}
    assert all(c["outcome"] == "ok" for c in calls), calls
    # each ran as the caller through the REST call's use case, with the arguments the model chose (it may
    # filter by a name it made up): only the tenant's own projects, never the other tenant's
    mine = (await client.get("/api/projetos", headers=owner.bearer)).json()
    for c in calls:
        result = json.loads(c["result"])
        assert {p["name"] for p in result["items"]} <= {"nossa-loja"}, c
        if json.loads(c["arguments"] or "{}") == {}:
            assert result["items"] == mine["items"], c
    assert "loja-deles" not in response.text
    assert reply["usage"]["completion_tokens"] > 0
    assert reply["usage"]["prompt_tokens"] > 0
    listed = await client.get(f"/api/conversas/{conversation}/mensagens", headers=owner.bearer)
    assert [m["role"] for m in listed.json()["items"]] == ["user", "assistant"]


async def test_the_real_model_calling_tools_again_and_again_meets_the_step_limit(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await _owner_with_projects(client, accounts)
    conversation = await _conversation(client, owner, STEPPER)

    response = await client.post(
        f"/api/conversas/{conversation}/mensagens", json={"content": ASK}, headers=owner.bearer
    )

    assert response.status_code == 201, response.text
    reply = response.json()["reply"]
    # after a tool result the 135M model asks for the tool again: the second step is its last
    assert reply["stop_reason"] == "step_limit", reply
    assert reply["status"] == "complete"
    assert reply["content"]
    assert len(reply["tool_calls"]) >= 2
    assert all(c["name"] == "list_projects" and c["outcome"] == "ok" for c in reply["tool_calls"])


async def test_the_real_model_streams_the_documented_events_with_estimated_usage(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _conversation(client, owner, "helpdesk")  # no tools: the model's own tokens stream

    response = await client.post(
        f"/api/conversas/{conversation}/mensagens",
        json={"content": "What is Tesserra? Answer in two sentences."},
        headers={**owner.bearer, "Accept": "text/event-stream"},
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.content)
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    names = [e[1] for e in events]
    assert names[0] == "message_start"
    assert names[-1] == "done"
    assert "error" not in names
    assert names.count("text_delta") > 1  # token by token, not the whole answer at once
    # llama.cpp reports no usage when streaming: we count, and say so
    usages = [e[2] for e in events if e[1] == "usage"]
    assert usages
    assert all(u["estimated"] is True for u in usages)
    assert usages[-1]["completion_tokens"] > 0
    done = events[-1][2]
    assert done["status"] == "complete"
    assert done["content"] == "".join(e[2]["text"] for e in events if e[1] == "text_delta")
    replay = await client.get(f"/api/conversas/{conversation}/mensagens/{done['id']}/eventos", headers=owner.bearer)
    assert replay.content == response.content
