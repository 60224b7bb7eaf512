"""Streamed answers over real sockets (SQLite and PostgreSQL), with the suite's scripted OpenAI-compatible
server as the provider: the documented events, a replay byte for byte (whole and after Last-Event-ID),
two viewers seeing the same sequence, an answer that outlives its client, cancelling a never-ending
stream, and retries with the same Idempotency-Key (after a 503 too) that make no second message."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from tesserra_adapters.memory.models import Step, call, say
from tesserra_core.errors import Unavailable
from tesserra_core.ports.models import Finish, TextDelta
from tests.drivers.http.chat.conftest import OPS
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.servers.scripted_model import Forever, ScriptedModelServer
from tests.support import eventually

SSE = {"Accept": "text/event-stream"}


def parse(body: bytes) -> list[tuple[int, str, Any]]:
    """(id, event, data) of each server-sent event, checking the framing as it goes."""
    events = []
    for frame in body.decode().split("\n\n"):
        if not frame:
            continue
        lines = frame.split("\n")
        assert [line.split(":", 1)[0] for line in lines] == ["id", "event", "data"], frame
        events.append((int(lines[0][4:]), lines[1][7:], json.loads(lines[2][6:])))
    return events


async def _start(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post("/api/conversas", json={"agent_id": OPS}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _messages(conversation: str) -> str:
    return f"/api/conversas/{conversation}/mensagens"


async def _first_event(client: httpx.AsyncClient, url: str, headers: dict[str, str], **kw: Any) -> tuple[str, bytes]:
    """Open a stream, read up to its first text delta, and drop the connection: (answer id, bytes read)."""
    async with client.stream("POST", url, headers={**headers, **SSE}, **kw) as response:
        assert response.status_code == 201
        seen = b""
        async for chunk in response.aiter_raw():
            seen += chunk
            if b"event: text_delta" in seen:
                break
    return str(parse(seen.rpartition(b"\n\n")[0] + b"\n\n")[0][2]["message_id"]), seen


async def test_a_streamed_exchange_has_the_documented_events_and_replays_byte_for_byte(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    model.script(call("list_projects", {}), say("Nenhum projeto ainda.", pieces=3, usage=(12, 5)))

    response = await client.post(
        _messages(conversation), json={"content": "Quais projetos?"}, headers={**owner.bearer, **SSE}
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    events = parse(response.content)
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    names = [e[1] for e in events]
    assert names == [
        "message_start",
        "usage",
        "tool_call",
        "tool_result",
        "text_delta",
        "text_delta",
        "text_delta",
        "usage",
        "done",
    ]
    start, done = events[0][2], events[-1][2]
    answer_id = start["message_id"]
    assert start["conversation_id"] == conversation
    assert events[2][2]["name"] == "list_projects"
    assert events[3][2]["outcome"] == "ok"
    assert "".join(e[2]["text"] for e in events if e[1] == "text_delta") == "Nenhum projeto ainda."
    assert events[7][2] == {"prompt_tokens": 12, "completion_tokens": 5, "estimated": False}
    assert done["id"] == answer_id
    assert done["status"] == "complete"
    assert done["content"] == "Nenhum projeto ainda."
    assert done["reply_to"] == start["reply_to"]

    replay = await client.get(f"{_messages(conversation)}/{answer_id}/eventos", headers=owner.bearer)
    assert replay.status_code == 200
    assert replay.content == response.content
    for last in (1, 4, len(events)):
        rest = await client.get(
            f"{_messages(conversation)}/{answer_id}/eventos", headers={**owner.bearer, "Last-Event-ID": str(last)}
        )
        assert rest.content == b"".join(f.encode() + b"\n\n" for f in response.text.split("\n\n")[last:-1])
    listed = (await client.get(_messages(conversation), headers=owner.bearer)).json()["items"]
    assert [(m["role"], m["status"]) for m in listed] == [("user", "complete"), ("assistant", "complete")]
    assert listed[1]["reply_to"] == listed[0]["id"]


async def test_the_answer_outlives_its_client_and_two_viewers_see_the_same_bytes(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    slow: list[Step] = [TextDelta("um "), 0.3, TextDelta("dois "), 0.3, TextDelta("três"), Finish("stop")]
    model.script(slow)

    answer_id, seen = await _first_event(client, _messages(conversation), owner.bearer, json={"content": "Conta"})

    events_url = f"{_messages(conversation)}/{answer_id}/eventos"

    async def watch(headers: dict[str, str]) -> bytes:
        return (await client.get(events_url, headers={**owner.bearer, **headers})).content

    whole, rest = await asyncio.gather(watch({}), watch({"Last-Event-ID": "2"}))
    assert whole.startswith(seen)  # the dropped client saw a prefix of the same bytes
    assert whole.endswith(rest)
    events = parse(whole)
    assert events[-1][2]["status"] == "complete"
    assert events[-1][2]["content"] == "um dois três"
    assert [e[0] for e in parse(rest)] == list(range(3, len(events) + 1))


async def test_cancel_stops_a_never_ending_stream_within_a_second_and_keeps_the_partial_text(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    model.script([Forever("blá ")])
    url = _messages(conversation)
    streamed: list[bytes] = []

    async def read_stream() -> None:
        async with client.stream("POST", url, json={"content": "Fala"}, headers={**owner.bearer, **SSE}) as response:
            async for chunk in response.aiter_raw():
                streamed.append(chunk)

    reader = asyncio.create_task(read_stream())
    await eventually(lambda: asyncio.sleep(0, b"event: text_delta" in b"".join(streamed) or None), within=30)
    answer_id = parse(b"".join(streamed).rpartition(b"\n\n")[0] + b"\n\n")[0][2]["message_id"]
    await asyncio.sleep(0.3)
    asked = time.monotonic()
    cancelled = await client.post(f"{url}/{answer_id}/cancel", headers=owner.bearer)

    assert cancelled.status_code == 200, cancelled.text
    await eventually(lambda: asyncio.sleep(0, model.closed or None), within=5)
    assert model.closed[0] - asked < 1.0
    await asyncio.wait_for(reader, 30)
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["error_code"] == "cancelled"
    events = parse(b"".join(streamed))
    partial = "".join(e[2]["text"] for e in events if e[1] == "text_delta")
    assert partial.startswith("blá blá ")
    assert body["content"] == partial
    assert [e[1] for e in events[-2:]] == ["error", "done"]
    assert events[-2][2]["code"] == "cancelled"
    assert events[-1][2]["status"] == "cancelled"
    again = await client.post(f"{url}/{answer_id}/cancel", headers=owner.bearer)
    assert again.json() == body  # an ended answer is returned as it is
    listed = (await client.get(url, headers=owner.bearer)).json()["items"]
    assert listed[1]["status"] == "cancelled"
    assert listed[1]["content"] == partial


async def test_a_retry_with_the_same_key_makes_no_second_message_nor_model_call(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    url = _messages(conversation)
    model.script([Unavailable("busy")], [Unavailable("busy")], then=say("não devia ser chamado"))
    keyed = {**owner.bearer, "Idempotency-Key": "post-1"}

    first = await client.post(url, json={"content": "Oi"}, headers=keyed)
    assert_error(first, 503, "model_unavailable")
    second = await client.post(url, json={"content": "Oi"}, headers=keyed)
    assert_error(second, 503, "model_unavailable")
    streamed = await client.post(url, json={"content": "Oi"}, headers={**keyed, **SSE})
    assert streamed.status_code == 201
    assert [e[1] for e in parse(streamed.content)][-2:] == ["error", "done"]
    assert_error(await client.post(url, json={"content": "Outra"}, headers=keyed), 422, "idempotency_key_reused")
    other_key = {**owner.bearer, "Idempotency-Key": "post-1b"}
    assert_error(await client.post(url, json={"content": "Outra"}, headers=other_key), 503, "model_unavailable")
    assert_error(await client.post(url, json={"content": "Oi"}, headers=other_key), 422, "idempotency_key_reused")

    assert len(model.requests) == 2
    listed = (await client.get(url, headers=owner.bearer)).json()["items"]
    assert [(m["role"], m["status"]) for m in listed] == [("user", "complete"), ("assistant", "failed")] * 2


async def test_a_retry_while_the_first_post_streams_follows_the_same_answer(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    url = _messages(conversation)
    model.script([TextDelta("a"), 0.5, TextDelta("b"), Finish("stop")], then=say("não devia ser chamado"))
    keyed = {**owner.bearer, "Idempotency-Key": "post-2"}

    answer_id, _ = await _first_event(client, url, keyed, json={"content": "Oi"})

    # The first client went away: once the server notices, the guard releases the key (409 in flight until
    # then) and the retry finds the message by its key.
    async def retried() -> httpx.Response | None:
        response = await client.post(url, json={"content": "Oi"}, headers=keyed)
        return None if response.status_code == 409 else response

    whole = await eventually(retried, within=30, every=0.1)

    assert whole.status_code == 201, whole.text
    assert whole.json()["reply"]["id"] == answer_id
    assert whole.json()["reply"]["content"] == "ab"
    replayed = await client.post(url, json={"content": "Oi"}, headers=keyed)
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert replayed.json() == whole.json()
    assert len(model.requests) == 1
    assert (await client.get(url, headers=owner.bearer)).json()["total"] == 2


async def test_events_and_cancel_of_someone_elses_answer_are_404_and_bad_ids_400(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    stranger = await accounts.tenant_owner("Stranger")
    conversation = await _start(client, owner)
    model.script(say("ok"))
    posted = await client.post(_messages(conversation), json={"content": "Oi"}, headers=owner.bearer)
    answer_id = posted.json()["reply"]["id"]
    user_message = posted.json()["message"]["id"]
    events = f"{_messages(conversation)}/{answer_id}/eventos"

    assert_error(await client.get(events, headers=stranger.bearer), 404, "conversation_not_found")
    cancel = f"{_messages(conversation)}/{answer_id}/cancel"
    assert_error(await client.post(cancel, headers=stranger.bearer), 404, "conversation_not_found")
    not_an_answer = f"{_messages(conversation)}/{user_message}/eventos"
    assert_error(await client.get(not_an_answer, headers=owner.bearer), 404, "message_not_found")
    for bad in ("x", "-1", "1.5"):
        response = await client.get(events, headers={**owner.bearer, "Last-Event-ID": bad})
        assert response.status_code == 400, (bad, response.text)
    beyond = await client.get(events, headers={**owner.bearer, "Last-Event-ID": "999"})
    assert beyond.status_code == 200
    assert beyond.content == b""
    whole = parse((await client.get(events, headers=owner.bearer)).content)
    assert [e[1] for e in whole] == ["message_start", "text_delta", "usage", "done"]


async def test_deleting_a_conversation_cancels_its_streaming_answer(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer
) -> None:
    owner = await accounts.tenant_owner()
    conversation = await _start(client, owner)
    model.script([Forever("tac ")])
    answer_id, _ = await _first_event(client, _messages(conversation), owner.bearer, json={"content": "Fala"})

    deleted = await client.delete(f"/api/conversas/{conversation}", headers=owner.bearer)

    assert deleted.status_code == 204
    await eventually(lambda: asyncio.sleep(0, model.closed or None), within=5)
    gone = await client.get(f"{_messages(conversation)}/{answer_id}/eventos", headers=owner.bearer)
    assert_error(gone, 404, "conversation_not_found")
