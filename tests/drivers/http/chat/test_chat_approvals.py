"""Approving an agent's destructive tool call over real sockets (SQLite and PostgreSQL), with the suite's
scripted OpenAI-compatible server: the call waits (``approval_required``, the answer pending_approval)
until the conversation's user decides; approved, it runs as that user and the same answer streams on
(replayed byte for byte); denied, the model is told so; another user or tenant is 404; approve and deny
racing make one outcome; cancel while waiting. Later turns carry the earlier tool calls and results."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.identity import Role
from tests.drivers.http.chat.conftest import OPS
from tests.drivers.http.chat.test_chat_streams import SSE, parse
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.servers.scripted_model import ScriptedModelServer
from tests.support import eventually


def _messages(conversation: str) -> str:
    return f"/api/conversas/{conversation}/mensagens"


async def _start(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post("/api/conversas", json={"agent_id": OPS}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _project(client: httpx.AsyncClient, account: Account, name: str = "loja") -> str:
    response = await client.post("/api/projetos", json={"name": name}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class Stream:
    """A streamed post read in the background: its bytes so far, and its events."""

    def __init__(self, client: httpx.AsyncClient, url: str, account: Account, content: str) -> None:
        self.raw = b""
        self.task = asyncio.create_task(self._read(client, url, account, content))

    async def _read(self, client: httpx.AsyncClient, url: str, account: Account, content: str) -> None:
        headers = {**account.bearer, **SSE}
        async with client.stream("POST", url, json={"content": content}, headers=headers) as response:
            assert response.status_code == 201
            async for chunk in response.aiter_raw():
                self.raw += chunk

    def events(self) -> list[tuple[int, str, Any]]:
        return parse(self.raw.rpartition(b"\n\n")[0] + b"\n\n") if b"\n\n" in self.raw else []

    async def until(self, name: str) -> dict[str, Any]:
        async def seen() -> dict[str, Any] | None:
            await asyncio.sleep(0)
            return next((data for _, event, data in self.events() if event == name), None)

        return await eventually(seen, within=30)

    async def end(self) -> list[tuple[int, str, Any]]:
        await asyncio.wait_for(self.task, 30)
        return parse(self.raw)


async def _waiting(
    client: httpx.AsyncClient, account: Account, model: ScriptedModelServer, project: str
) -> tuple[str, Stream, dict[str, Any]]:
    """A conversation whose answer waits for approval to delete ``project``: (its messages URL, the
    stream, the approval_required data)."""
    conversation = await _start(client, account)
    model.script(call("delete_project", {"project_id": project}, call_id="call_del"), say("Apagado.", pieces=2))
    stream = Stream(client, _messages(conversation), account, "Apaga o projeto")
    approval = await stream.until("approval_required")
    return _messages(conversation), stream, approval


async def test_approving_runs_the_tool_as_the_user_and_the_same_answer_streams_on(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    project = await _project(client, owner)
    url, stream, approval = await _waiting(client, owner, model, project)
    answer = stream.events()[0][2]["message_id"]

    assert approval["name"] == "delete_project"
    assert json.loads(approval["arguments"]) == {"project_id": project}
    assert approval["tool_call_id"] == "call_del"
    assert [e[1] for e in stream.events()] == ["message_start", "usage", "tool_call", "approval_required"]
    listed = (await client.get(url, headers=owner.bearer)).json()["items"]
    assert listed[1]["status"] == "pending_approval"
    assert len(model.requests) == 1  # nothing runs, nothing is asked, while it waits
    assert (await client.get(f"/api/projetos/{project}", headers=owner.bearer)).status_code == 200

    decided = await client.post(
        f"{url}/{answer}/aprovacoes/{approval['approval_id']}", json={"decision": "approve"}, headers=owner.bearer
    )

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    events = await stream.end()
    names = [e[1] for e in events]
    assert names[4:] == ["tool_result", "text_delta", "text_delta", "usage", "done"]
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    result = events[4][2]
    assert (result["id"], result["outcome"]) == ("call_del", "ok")
    assert json.loads(result["result"]) == {"deleted": project}
    assert events[-1][2]["id"] == answer
    assert (events[-1][2]["status"], events[-1][2]["content"]) == ("complete", "Apagado.")
    assert_error(await client.get(f"/api/projetos/{project}", headers=owner.bearer), 404)
    assert model.requests[1]["messages"][-1] == {
        "role": "tool",
        "content": result["result"],
        "tool_call_id": "call_del",
    }
    # one answer, replayed byte for byte, whole and after any event
    replay = await client.get(f"{url}/{answer}/eventos", headers=owner.bearer)
    assert replay.content == stream.raw
    rest = await client.get(f"{url}/{answer}/eventos", headers={**owner.bearer, "Last-Event-ID": "4"})
    assert rest.content == b"".join(f.encode() + b"\n\n" for f in stream.raw.decode().split("\n\n")[4:-1])
    assert_error(
        await client.post(
            f"{url}/{answer}/aprovacoes/{approval['approval_id']}", json={"decision": "deny"}, headers=owner.bearer
        ),
        409,
        "approval_decided",
    )


async def test_denying_tells_the_model_and_the_tool_never_runs(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    project = await _project(client, owner)
    url, stream, approval = await _waiting(client, owner, model, project)
    answer = stream.events()[0][2]["message_id"]

    decided = await client.post(
        f"{url}/{answer}/aprovacoes/{approval['approval_id']}", json={"decision": "deny"}, headers=owner.bearer
    )

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "denied"
    events = await stream.end()
    result = next(data for _, name, data in events if name == "tool_result")
    assert result["outcome"] == "denied"
    assert json.loads(result["result"])["error"]["code"] == "denied_by_user"
    assert model.requests[1]["messages"][-1]["content"] == result["result"]
    assert events[-1][2]["status"] == "complete"
    assert (await client.get(f"/api/projetos/{project}", headers=owner.bearer)).status_code == 200


async def test_only_the_conversations_user_decides_and_bad_decisions_are_400(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    colleague = await accounts.member(owner.tenant_id, Role.ADMIN)
    stranger = await accounts.tenant_owner("Outra")
    project = await _project(client, owner)
    url, stream, approval = await _waiting(client, owner, model, project)
    answer = stream.events()[0][2]["message_id"]
    decide = f"{url}/{answer}/aprovacoes/{approval['approval_id']}"

    for other in (colleague, stranger):
        assert_error(await client.post(decide, json={"decision": "approve"}, headers=other.bearer), 404)
    assert_error(
        await client.post(f"{url}/{answer}/aprovacoes/nope", json={"decision": "approve"}, headers=owner.bearer),
        404,
        "approval_not_found",
    )
    for body in ({"decision": "maybe"}, {}, {"decision": "approve", "extra": 1}):
        assert_error(await client.post(decide, json=body, headers=owner.bearer), 400)
    assert (await client.get(f"/api/projetos/{project}", headers=owner.bearer)).status_code == 200

    assert (await client.post(decide, json={"decision": "deny"}, headers=owner.bearer)).status_code == 200
    await stream.end()


async def test_approve_and_deny_racing_make_exactly_one_outcome(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    project = await _project(client, owner)
    url, stream, approval = await _waiting(client, owner, model, project)
    answer = stream.events()[0][2]["message_id"]
    decide = f"{url}/{answer}/aprovacoes/{approval['approval_id']}"

    responses = await asyncio.gather(
        *(
            client.post(decide, json={"decision": decision}, headers=owner.bearer)
            for decision in ["approve", "deny"] * 5
        )
    )

    won = [r for r in responses if r.status_code == 200]
    assert len(won) == 1, [r.text for r in responses]
    for lost in responses:
        if lost is not won[0]:
            assert_error(lost, 409, "approval_decided")
    events = await stream.end()
    [result] = [data for _, name, data in events if name == "tool_result"]
    project_status = (await client.get(f"/api/projetos/{project}", headers=owner.bearer)).status_code
    if won[0].json()["status"] == "approved":
        assert (result["outcome"], project_status) == ("ok", 404)
    else:
        assert (result["outcome"], project_status) == ("denied", 200)


async def test_cancelling_an_answer_that_waits_ends_it_and_its_approval(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    project = await _project(client, owner)
    url, stream, approval = await _waiting(client, owner, model, project)
    answer = stream.events()[0][2]["message_id"]

    cancelled = await client.post(f"{url}/{answer}/cancel", headers=owner.bearer)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    events = await stream.end()
    assert [e[1] for e in events[-2:]] == ["error", "done"]
    assert_error(
        await client.post(
            f"{url}/{answer}/aprovacoes/{approval['approval_id']}", json={"decision": "approve"}, headers=owner.bearer
        ),
        409,
        "approval_decided",
    )
    assert (await client.get(f"/api/projetos/{project}", headers=owner.bearer)).status_code == 200
    assert len(model.requests) == 1


async def test_a_later_turn_carries_the_earlier_tool_calls_and_results_in_the_openai_shape(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    model.script(call("list_projects", {"limite": 5}, call_id="call_a"), say("Nenhum."), say("De nada."))
    first = await client.post(_messages(conversation), json={"content": "Quais projetos?"}, headers=owner.bearer)
    assert first.status_code == 201, first.text
    [record] = first.json()["reply"]["tool_calls"]

    second = await client.post(_messages(conversation), json={"content": "Obrigado"}, headers=owner.bearer)

    assert second.status_code == 201, second.text
    sent = model.requests[2]["messages"]
    assert sent[1:] == [
        {"role": "user", "content": "Quais projetos?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "list_projects", "arguments": '{"limite": 5}'},
                }
            ],
        },
        {"role": "tool", "content": record["result"], "tool_call_id": "call_a"},
        {"role": "assistant", "content": "Nenhum."},
        {"role": "user", "content": "Obrigado"},
    ]


async def test_a_whole_answer_post_comes_back_pending_with_its_approval_and_the_list_shows_it(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    project = await _project(client, owner)
    conversation = await _start(client, owner)
    model.script(call("delete_project", {"project_id": project}, call_id="call_del"), say("Apagado."))

    posted = await client.post(_messages(conversation), json={"content": "Apaga"}, headers=owner.bearer)

    assert posted.status_code == 201, posted.text
    reply = posted.json()["reply"]
    assert reply["status"] == "pending_approval"
    approval = reply["approval"]
    assert (approval["tool"], approval["tool_call_id"], approval["status"]) == ("delete_project", "call_del", "pending")
    assert json.loads(approval["arguments"]) == {"project_id": project}
    listed = (await client.get(_messages(conversation), headers=owner.bearer)).json()["items"]
    assert "approval" not in listed[0]
    assert listed[1]["approval"] == approval

    decided = await client.post(
        f"{_messages(conversation)}/{reply['id']}/aprovacoes/{approval['id']}",
        json={"decision": "approve"},
        headers=owner.bearer,
    )
    assert decided.status_code == 200, decided.text

    async def finished() -> dict[str, Any] | None:
        items = (await client.get(_messages(conversation), headers=owner.bearer)).json()["items"]
        return items[1] if items[1]["status"] == "complete" else None

    done = await eventually(finished, within=30)
    assert "approval" not in done
    assert done["content"] == "Apagado."
    assert [r["outcome"] for r in done["tool_calls"]] == ["ok"]
    assert_error(await client.get(f"/api/projetos/{project}", headers=owner.bearer), 404)
