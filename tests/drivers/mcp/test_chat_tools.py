"""Agent and chat tools over the MCP SDK's client, against their REST twins, with the suite's scripted
OpenAI-compatible server as the provider: same use cases, same data; another user's or tenant's
conversation is the same 404 as a tool error; the chat scopes decide which of them a key sees."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.identity import Tier
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.drivers.mcp.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BACKENDS,
    CHAT_READ_TOOLS,
    CHAT_TOOLS,
    Server,
    Site,
    bearer,
    mcp_session,
    new_site,
    texts,
)
from tests.servers.scripted_model import Forever, ScriptedModelServer, scripted_model


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ScriptedModelServer]:
    async with scripted_model() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
async def mcp_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: ScriptedModelServer
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp(f"mcp-chat-{request.param}")
    async with support.database_url(request.param, tmp) as url:
        settings = support.test_settings(tmp, url, model_base_url=model.url, model="tiny-chat")
        async with support.live_server(settings) as live:
            await live.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            pair = await live.uc.sessions.login(Credentials(ADMIN_EMAIL, ADMIN_PASSWORD))
            yield Server(live.url, live.uc, settings, await live.uc.authenticate(pair.access_token))


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    assert json.loads(texts(result)[0]) == result.structured_content
    return result.structured_content


async def test_chat_tools_return_what_rest_returns(site: Site, model: ScriptedModelServer) -> None:
    token = site.owner_token
    async with mcp_session(site.mcp_url, bearer(token)) as session, site.http(token) as http:
        twin = "/api/tenants/atual/agentes"
        assert _data(await session.call_tool("list_agents", {})) == (await http.get(twin)).json()
        narrowed = _data(await session.call_tool("list_agents", {"vertical": "support"}))
        assert narrowed == (await http.get(twin, params={"vertical": "support"})).json()
        assert _data(await session.call_tool("list_verticals", {})) == (await http.get("/api/verticais")).json()

        await http.post("/api/projetos", json={"name": "vitrine"})
        started = _data(await session.call_tool("start_conversation", {"agent_id": "ops-assistant", "title": "Ops"}))
        assert started == (await http.get(f"/api/conversas/{started['id']}")).json()
        assert started["title"] == "Ops"
        model.script(call("list_projects", {}), say("Há a vitrine."))

        exchange = _data(
            await session.call_tool("send_message", {"conversation_id": started["id"], "content": "e aí?"})
        )

        assert exchange["reply"]["content"] == "Há a vitrine."
        assert exchange["reply"]["tool_calls"][0]["outcome"] == "ok"
        assert "vitrine" in exchange["reply"]["tool_calls"][0]["result"]
        assert len(model.requests) == 2
        listed = _data(await session.call_tool("list_messages", {"conversation_id": started["id"]}))
        assert listed == (await http.get(f"/api/conversas/{started['id']}/mensagens")).json()
        assert [m["id"] for m in listed["items"]] == [exchange["message"]["id"], exchange["reply"]["id"]]


async def test_another_tenants_conversation_is_a_404_tool_error(
    site: Site, mcp_server: Server, model: ScriptedModelServer
) -> None:
    model.script()
    other = await new_site(mcp_server)
    async with mcp_session(other.mcp_url, bearer(other.owner_token)) as theirs:
        conversation = _data(await theirs.call_tool("start_conversation", {"agent_id": "helpdesk"}))["id"]
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        for tool, arguments in (
            ("send_message", {"conversation_id": conversation, "content": "oi"}),
            ("list_messages", {"conversation_id": conversation}),
        ):
            result = await session.call_tool(tool, arguments)
            assert result.is_error
            assert result.structured_content is not None
            assert result.structured_content["code"] == "conversation_not_found"
    assert model.requests == []


async def test_list_agents_shows_the_tenants_private_agents_to_it_alone(site: Site, mcp_server: Server) -> None:
    body = {"vertical": "support", "name": "Nosso", "instructions": "Seja breve.", "tools": []}
    other = await new_site(mcp_server)
    async with site.http(site.owner_token) as http:
        created = await http.post("/api/tenants/atual/agentes", json=body)
        assert created.status_code == 201, created.text
        twin = (await http.get("/api/tenants/atual/agentes", params={"limite": 500})).json()
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        ours = _data(await session.call_tool("list_agents", {"limite": 500}))
        started = _data(await session.call_tool("start_conversation", {"agent_id": created.json()["id"]}))
    assert ours == twin
    assert created.json()["id"] in [a["id"] for a in ours["items"]]
    assert started["agent_id"] == created.json()["id"]
    async with mcp_session(other.mcp_url, bearer(other.owner_token)) as theirs:
        seen = _data(await theirs.call_tool("list_agents", {"limite": 500}))
        refused = await theirs.call_tool("start_conversation", {"agent_id": created.json()["id"]})
    assert created.json()["id"] not in [a["id"] for a in seen["items"]]
    assert refused.is_error
    assert refused.structured_content is not None
    assert refused.structured_content["code"] == "agent_not_found"


async def test_the_chat_scopes_decide_which_chat_tools_a_key_sees(site: Site) -> None:
    cases = [
        (("profile:read",), set()),
        (("chat:read",), CHAT_READ_TOOLS),
        (("chat:read", "chat:write"), CHAT_TOOLS),
    ]
    for scopes, expected in cases:
        minted = await site.key(*scopes, tier=Tier.BASIC)
        async with mcp_session(site.mcp_url, bearer(minted.key)) as session:
            names = {t.name for t in (await session.list_tools()).tools}
        assert names & CHAT_TOOLS == expected, scopes


async def test_cancel_message_stops_a_streaming_answer_like_its_rest_twin(
    site: Site, model: ScriptedModelServer
) -> None:
    token = site.owner_token
    async with mcp_session(site.mcp_url, bearer(token)) as session, site.http(token) as http:
        started = _data(await session.call_tool("start_conversation", {"agent_id": "ops-assistant"}))
        url = f"/api/conversas/{started['id']}/mensagens"
        model.script([Forever("la ")])
        seen = b""
        async with http.stream("POST", url, json={"content": "canta"}, headers={"Accept": "text/event-stream"}) as r:
            async for chunk in r.aiter_raw():
                seen += chunk
                if b"event: text_delta" in seen:
                    break
        answer_id = json.loads(seen.split(b"\n")[2][6:])["message_id"]

        cancelled = _data(
            await session.call_tool("cancel_message", {"conversation_id": started["id"], "message_id": answer_id})
        )

        assert cancelled["status"] == "cancelled"
        assert cancelled["content"].startswith("la ")
        assert cancelled == (await http.post(f"{url}/{answer_id}/cancel")).json()
        missing = await session.call_tool("cancel_message", {"conversation_id": started["id"], "message_id": "nope"})
        assert missing.is_error
        assert texts(missing)[0] == "no such answer in this conversation"


async def test_decide_approval_resumes_the_waiting_answer_like_its_rest_twin(
    site: Site, mcp_server: Server, model: ScriptedModelServer
) -> None:
    """send_message comes back while the answer waits for approval (with the approval); decide_approval
    approves it and the answer goes on; another tenant is 404 and a second decision 409, as over REST."""
    token = site.owner_token
    async with mcp_session(site.mcp_url, bearer(token)) as session, site.http(token) as http:
        project = (await http.post("/api/projetos", json={"name": "apagavel"})).json()["id"]
        started = _data(await session.call_tool("start_conversation", {"agent_id": "ops-assistant"}))
        url = f"/api/conversas/{started['id']}/mensagens"
        model.script(call("delete_project", {"project_id": project}), say("Feito."))

        exchange = _data(
            await session.call_tool("send_message", {"conversation_id": started["id"], "content": "apaga"})
        )

        reply = exchange["reply"]
        assert reply["status"] == "pending_approval"
        arguments = {
            "conversation_id": started["id"],
            "message_id": reply["id"],
            "approval_id": reply["approval"]["id"],
        }
        other = await new_site(mcp_server)
        async with mcp_session(other.mcp_url, bearer(other.owner_token)) as theirs:
            refused = await theirs.call_tool("decide_approval", {**arguments, "decision": "approve"})
            assert refused.is_error
            assert refused.structured_content is not None
            assert refused.structured_content["code"] == "conversation_not_found"

        decided = _data(await session.call_tool("decide_approval", {**arguments, "decision": "approve"}))

        assert decided["status"] == "approved"
        assert decided["tool"] == "delete_project"
        again = await http.post(f"{url}/{reply['id']}/aprovacoes/{arguments['approval_id']}", json={"decision": "deny"})
        assert again.status_code == 409
        assert again.json()["code"] == "approval_decided"
        done = (await http.get(f"{url}/{reply['id']}/eventos")).text
        assert '"status":"complete"' in done
        assert (await http.get(f"/api/projetos/{project}")).status_code == 404
