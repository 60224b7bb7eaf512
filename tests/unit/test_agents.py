"""The agent loop on the scripted provider: answers, tool calls as the conversation's user, limits,
denied and invalid tools, capped results; and conversations as the user's own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.memory.models import ScriptedModel, call, say
from tesserra_adapters.settings import Settings
from tesserra_core.domain.agents import Agent, AgentLimits, agent_catalog
from tesserra_core.domain.conversations import (
    ConversationStatus,
    Message,
    MessageStatus,
    StopReason,
    ToolCallRecord,
    ToolOutcome,
)
from tesserra_core.domain.conversations import Role as MessageRole
from tesserra_core.domain.identity import Principal, Role, Scope, Tier
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import Installation, InstallationStatus, InstallScope, ToolInfo
from tesserra_core.errors import Conflict, Forbidden, NotFound, Unavailable, Unprocessable
from tesserra_core.facade import UseCases
from tesserra_core.ports.models import ChatMessage, Finish, ReportedUsage
from tesserra_core.usecases.agent_loop import AgentLoop, cap
from tesserra_core.usecases.agents import AgentChanges, AgentFilter, NewAgent
from tesserra_core.usecases.conversations import ConversationChanges, ConversationFilter, NewConversation, NewMessage
from tesserra_core.usecases.conversations_answers import HISTORY_TOOL_CALLS, HISTORY_TOOL_RESULT
from tesserra_core.usecases.projects import NewProject
from tests.unit.conftest import make_team
from tests.unit.helpers import FakeClock, Team, add_user, sign_in, store

OPS = "ops-assistant"


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
async def uc(settings: Settings, clock: FakeClock, model: ScriptedModel) -> AsyncIterator[UseCases]:
    async with AsyncExitStack() as stack:
        yield await build(memory_ports(settings, stack, clock=clock, models=model), settings)


async def _chat(uc: UseCases, actor: Principal, agent_id: str = OPS) -> str:
    return (await uc.conversations.start(actor, NewConversation(agent_id=agent_id))).id


def _agent(**limits: int) -> Agent:
    return msgspec.structs.replace(agent_catalog().agent(OPS), limits=AgentLimits(**limits))


async def test_a_text_answer_is_stored_with_estimated_tokens_when_the_provider_reports_none(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(say("Olá! Tudo certo.", pieces=3))
    conversation = await _chat(uc, team.member)

    exchange = await uc.conversations.send(team.member, conversation, NewMessage(content="oi"))

    assert exchange.reply.content == "Olá! Tudo certo."
    assert exchange.reply.stop_reason is StopReason.ANSWER
    assert exchange.reply.usage.estimated
    assert exchange.reply.usage.completion_tokens > 0
    sent = model.requests[0]
    assert [m.role for m in sent.messages] == ["system", "user"]
    assert sent.messages[0].content == agent_catalog().agent(OPS).instructions
    assert [t.name for t in sent.tools] == ["list_projects", "get_project", "list_domains", "delete_project"]
    listed = await uc.conversations.messages(team.member, conversation, PageRequest())
    assert [(m.role.value, m.content) for m in listed.items] == [("user", "oi"), ("assistant", "Olá! Tudo certo.")]


async def test_reported_usage_is_stored_as_reported(uc: UseCases, team: Team, model: ScriptedModel) -> None:
    model.script(say("ok", usage=(120, 7)))
    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="oi"))
    usage = exchange.reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (120, 7, False)


async def test_list_projects_runs_as_the_user_and_sees_only_the_users_tenant(
    uc: UseCases, admin: Principal, team: Team, model: ScriptedModel
) -> None:
    other = await make_team(uc, admin)
    await uc.projects.create(team.owner, NewProject(name="loja-nossa"))
    await uc.projects.create(other.owner, NewProject(name="loja-alheia"))
    model.script(call("list_projects", {}), say("Vocês têm a loja-nossa."))

    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="projetos?"))

    [record] = exchange.reply.tool_calls
    assert record.outcome is ToolOutcome.OK
    names = [p["name"] for p in json.loads(record.result)["items"]]
    assert names == ["loja-nossa"]
    second = model.requests[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "tool"]
    assert second[2].tool_calls[0].name == "list_projects"
    assert second[3].tool_call_id == "call_1"
    assert second[3].content == record.result
    assert exchange.reply.content == "Vocês têm a loja-nossa."


async def test_the_model_cannot_name_another_tenant_or_user(
    uc: UseCases, admin: Principal, team: Team, model: ScriptedModel
) -> None:
    """Identity is not an argument: a tenant_id the model adds is refused by the schema, and never used."""
    other = await make_team(uc, admin)
    await uc.projects.create(other.owner, NewProject(name="segredo"))
    model.script(call("list_projects", {"tenant_id": other.tenant_id}), say("não consigo"))

    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="x"))

    [record] = exchange.reply.tool_calls
    assert record.outcome is ToolOutcome.INVALID
    assert "segredo" not in record.result
    assert json.loads(record.result)["error"]["code"] == "invalid_arguments"


async def test_a_model_that_keeps_calling_a_tool_stops_at_the_step_limit(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(then=call("list_projects", {}))
    loop = uc.conversations.send.post.loop

    answer = await loop.answer(
        team.member, _agent(max_steps=3, max_tool_calls=50), [ChatMessage(role="user", content="x")]
    )

    assert answer.stop_reason is StopReason.STEP_LIMIT
    assert len(model.requests) == 3
    assert len(answer.tool_calls) == 3
    assert "limit of model steps" in answer.content


async def test_the_tool_call_limit_stops_the_loop_before_the_call_over_it(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(then=call("list_projects", {}))
    answer = await uc.conversations.send.post.loop.answer(
        team.member, _agent(max_steps=10, max_tool_calls=2), [ChatMessage(role="user", content="x")]
    )
    assert answer.stop_reason is StopReason.TOOL_CALL_LIMIT
    assert len(answer.tool_calls) == 2
    assert len(model.requests) == 3


async def test_a_tool_outside_the_agents_list_is_denied_and_never_runs(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(call("delete_project", {"project_id": "x"}), say("feito?"))
    exchange = await uc.conversations.send(team.owner, await _chat(uc, team.owner, "helpdesk"), NewMessage(content="x"))
    [record] = exchange.reply.tool_calls
    assert record.outcome is ToolOutcome.DENIED
    assert json.loads(record.result)["error"]["code"] == "tool_not_allowed"
    # the helpdesk offers no tools at all
    assert model.requests[0].tools == ()


async def test_a_tool_beyond_the_users_rights_is_denied_with_the_rest_calls_refusal(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    """A key without projects:read gets, through the agent, what the REST call would answer: no projects."""
    await uc.projects.create(team.owner, NewProject(name="escondido"))
    narrowed = msgspec.structs.replace(team.member, scopes=frozenset({Scope.CHAT_READ, Scope.CHAT_WRITE}))
    model.script(call("list_projects", {}), say("sem acesso"))

    exchange = await uc.conversations.send(narrowed, await _chat(uc, narrowed), NewMessage(content="x"))

    [record] = exchange.reply.tool_calls
    assert record.outcome is ToolOutcome.DENIED
    assert json.loads(record.result)["error"] == {
        "code": "insufficient_scope",
        "message": "missing scope: projects:read",
    }
    assert "escondido" not in record.result


async def test_a_failing_use_case_goes_back_to_the_model_as_a_structured_error(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(call("get_project", {"project_id": "nope"}), say("não existe"))
    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="x"))
    [record] = exchange.reply.tool_calls
    assert record.outcome is ToolOutcome.FAILED
    assert json.loads(record.result)["error"]["code"] == "project_not_found"


async def test_invalid_json_arguments_never_run(uc: UseCases, team: Team, model: ScriptedModel) -> None:
    model.script(call("list_projects", "{not json"), say("ops"))
    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="x"))
    assert exchange.reply.tool_calls[0].outcome is ToolOutcome.INVALID


async def test_an_oversized_tool_result_is_capped_with_a_marker(uc: UseCases, team: Team, model: ScriptedModel) -> None:
    for n in range(3):
        await uc.projects.create(team.owner, NewProject(name=f"projeto-{n}", description="d" * 2000))
    model.script(call("list_projects", {}), say("muitos"))
    loop = uc.conversations.send.post.loop
    small = AgentLoop(loop.models, loop.tools, loop.installations, loop.throttle, max_result=2_000)

    answer = await small.answer(team.member, _agent(), [ChatMessage(role="user", content="x")])

    result = answer.tool_calls[0].result
    assert result.startswith('{"items":[')
    assert len(result) < 2_100
    assert result.endswith("more characters]")
    assert "[truncated: " in result
    assert model.requests[1].messages[-1].content == result
    assert cap("abc", 5) == "abc"


async def test_without_a_provider_the_message_is_stored_and_the_answer_is_503(
    settings: Settings, clock: FakeClock, admin: Principal
) -> None:
    async with AsyncExitStack() as stack:
        uc = await build(memory_ports(settings, stack, clock=clock), settings)
        assert await uc.operators.ensure_first_owner("root@x.test", "correct horse battery staple")
        _, root = await sign_in(uc, "root@x.test")
        conversation = await _chat(uc, root)
        with pytest.raises(Unavailable) as raised:
            await uc.conversations.send(root, conversation, NewMessage(content="olá"))
        assert raised.value.code == "model_unavailable"
        assert "TESSERRA_MODEL_BASE_URL" in raised.value.message
        listed = await uc.conversations.messages(root, conversation, PageRequest())
        assert [(m.role.value, m.status) for m in listed.items] == [
            ("user", MessageStatus.COMPLETE),
            ("assistant", MessageStatus.FAILED),
        ]
        assert listed.items[0].content == "olá"


async def test_conversations_are_the_users_own(
    uc: UseCases, admin: Principal, team: Team, model: ScriptedModel
) -> None:
    mine = await _chat(uc, team.member)
    other = await make_team(uc, admin)
    colleague_email = await add_user(uc, team.tenant_id, Role.MEMBER)
    _, colleague = await sign_in(uc, colleague_email, tenant_id=team.tenant_id)
    for stranger in (team.owner, colleague, other.owner):
        with pytest.raises(NotFound):
            await uc.conversations.get(stranger, mine)
        with pytest.raises(NotFound):
            await uc.conversations.messages(stranger, mine, PageRequest())
        with pytest.raises(NotFound):
            await uc.conversations.send(stranger, mine, NewMessage(content="x"))
        with pytest.raises(NotFound):
            await uc.conversations.delete(stranger, mine)
        assert (await uc.conversations.list(stranger, PageRequest(), ConversationFilter())).total == 0
    assert model.requests == []
    assert (await uc.conversations.get(team.member, mine)).id == mine


async def test_an_archived_conversation_takes_no_messages_until_made_active(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    conversation = await _chat(uc, team.member)
    archive = ConversationChanges(status=ConversationStatus.ARCHIVED)
    archived = await uc.conversations.update(team.member, conversation, archive)
    assert archived.status is ConversationStatus.ARCHIVED
    with pytest.raises(Conflict):
        await uc.conversations.send(team.member, conversation, NewMessage(content="x"))
    await uc.conversations.update(team.member, conversation, ConversationChanges(status=ConversationStatus.ACTIVE))
    model.script(say("voltei"))
    assert (await uc.conversations.send(team.member, conversation, NewMessage(content="x"))).reply.content == "voltei"


async def test_a_conversation_keeps_the_agent_version_it_started_with(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    conversation = await _chat(uc, team.member)
    stored = store(uc).conversations.get(conversation)
    assert stored is not None
    assert stored.agent == agent_catalog().agent(OPS)
    view = await uc.conversations.get(team.member, conversation)
    assert (view.agent_id, view.agent_version) == (OPS, 2)


async def test_a_deleted_conversation_takes_its_messages_with_it(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    conversation = await _chat(uc, team.member)
    model.script(say("a"))
    await uc.conversations.send(team.member, conversation, NewMessage(content="x"))
    await uc.conversations.delete(team.member, conversation)
    with pytest.raises(NotFound):
        await uc.conversations.messages(team.member, conversation, PageRequest())
    assert not [m for m in store(uc).messages.values() if m.conversation_id == conversation]


async def test_agents_and_verticals_are_listed_from_the_catalog(uc: UseCases, team: Team) -> None:
    agents = await uc.agents.list(PageRequest(), AgentFilter())
    assert {a.id for a in agents.items} == {"ops-assistant", "helpdesk"}
    ops = await uc.agents.list(PageRequest(), AgentFilter(vertical="operations"))
    assert [a.id for a in ops.items] == [OPS]
    assert {v.id for v in (await uc.agents.verticals(PageRequest())).items} == {"operations", "support"}
    with pytest.raises(NotFound):
        await uc.agents.get("nope")
    with pytest.raises(NotFound):
        await uc.conversations.start(team.member, NewConversation(agent_id="nope"))


TIME_ENTRY = "io.github.modelcontextprotocol-time"


async def _installed(
    uc: UseCases, team: Team, *, user_id: str | None = None, scope: InstallScope = InstallScope.TENANT
) -> Installation:
    now = uc.ports.clock.now()
    installation = Installation(
        id=uc.ports.ids.new(),
        tenant_id=team.tenant_id,
        user_id=user_id or team.owner.user_id,
        scope=scope,
        entry_id=TIME_ENTRY,
        entry_version="1",
        config={},
        sealed_secrets=None,
        secret_names=(),
        status=InstallationStatus.INSTALLING,
        status_reason=None,
        tools=(
            ToolInfo(
                name="get_current_time",
                description="The time in a timezone.",
                input_schema={"type": "object", "properties": {"timezone": {"type": "string"}}},
            ),
            ToolInfo(name="convert_time", description="Not named by the agent."),
        ),
        workload_id=None,
        created_at=now,
        updated_at=now,
    )
    async with uc.ports.uow() as uow:
        await uow.installations.add(installation)
        await uow.commit()
    return installation


async def test_an_installations_tool_the_agent_names_is_offered_and_runs_through_call_installation_tool(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    await _installed(uc, team)
    model.script(call("get_current_time", {"timezone": "UTC"}), say("ainda instalando"))

    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="hora?"))

    offered = {t.name: t for t in model.requests[0].tools}
    assert set(offered) == {"list_projects", "get_project", "list_domains", "delete_project", "get_current_time"}
    assert offered["get_current_time"].description == "The time in a timezone."
    assert offered["get_current_time"].parameters["properties"] == {"timezone": {"type": "string"}}
    [record] = exchange.reply.tool_calls
    # it ran through the use case, which refuses a server still installing, as the REST call would
    assert record.outcome is ToolOutcome.FAILED
    assert json.loads(record.result)["error"]["code"] == "installation_installing"


async def test_an_installations_tool_needs_the_rest_calls_scope_and_tier(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    await _installed(uc, team)
    for narrowed, code in (
        (msgspec.structs.replace(team.member, scopes=team.member.scopes - {Scope.TOOLS_WRITE}), "insufficient_scope"),
        (msgspec.structs.replace(team.member, tier=Tier.BASIC), "insufficient_tier"),
    ):
        model.script(call("get_current_time", {}), say("não"))
        exchange = await uc.conversations.send(narrowed, await _chat(uc, narrowed), NewMessage(content="x"))
        [record] = exchange.reply.tool_calls
        assert record.outcome is ToolOutcome.DENIED
        assert json.loads(record.result)["error"]["code"] == code


async def test_another_users_private_installation_and_unnamed_tools_are_not_offered(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    await _installed(uc, team, user_id=team.owner.user_id, scope=InstallScope.USER)
    model.script(call("get_current_time", {}), call("convert_time", {}), say("nada"))

    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="x"))

    assert "get_current_time" not in {t.name for t in model.requests[0].tools}
    outcomes = [(r.outcome, json.loads(r.result)["error"]["code"]) for r in exchange.reply.tool_calls]
    assert outcomes == [(ToolOutcome.DENIED, "tool_not_allowed"), (ToolOutcome.DENIED, "tool_not_allowed")]


async def test_what_the_model_writes_is_stored_without_nul_characters(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    """PostgreSQL refuses NUL in text: a model that writes one must not turn the answer into a 400."""
    model.script(call("list_projects", '{"name": "a\u0000b"}', call_id="c\u00001"), say("o\u0000k"))
    exchange = await uc.conversations.send(team.member, await _chat(uc, team.member), NewMessage(content="x"))
    assert exchange.reply.content == "ok"
    [record] = exchange.reply.tool_calls
    assert "\x00" not in record.arguments + record.id


async def test_a_failed_answer_is_not_history_the_model_is_given(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    conversation = await _chat(uc, team.member)
    model.script([Unavailable("down", code="model_unavailable")])
    with pytest.raises(Unavailable):
        await uc.conversations.send(team.member, conversation, NewMessage(content="primeira"))
    model.script(say("ok"))
    await uc.conversations.send(team.member, conversation, NewMessage(content="segunda"))
    sent = model.requests[0].messages
    assert [(m.role, m.content) for m in sent[1:]] == [("user", "primeira"), ("user", "segunda")]


async def test_the_token_limit_shrinks_each_calls_max_tokens_and_then_stops_the_loop(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    spend = [*call("list_projects", {})[:-1], ReportedUsage(10, 600), Finish("tool_calls")]
    model.script(then=spend)
    agent = _agent(max_steps=10, max_tool_calls=10, max_tokens_per_turn=1000)

    answer = await uc.conversations.send.post.loop.answer(team.member, agent, [ChatMessage(role="user", content="x")])

    assert answer.stop_reason is StopReason.TOKEN_LIMIT
    assert [turn.max_tokens for turn in model.requests] == [1000, 400]
    assert answer.usage.completion_tokens == 1200
    assert not answer.usage.estimated


async def test_a_later_turn_gets_the_earlier_tool_calls_and_results_capped(
    uc: UseCases, team: Team, model: ScriptedModel, clock: FakeClock
) -> None:
    """An earlier answer goes back to the model as its calls (assistant, empty content), their results
    (tool messages) and its text: its last HISTORY_TOOL_CALLS calls, each result and arguments capped."""
    conversation = await _chat(uc, team.member)
    records = tuple(
        ToolCallRecord(
            id=f"c{n}",
            name="list_projects",
            arguments=json.dumps({"name": "x" * 3000}) if n == 9 else "{}",
            outcome=ToolOutcome.OK,
            result="r" * 5000 if n == 9 else f"result {n}",
        )
        for n in range(10)
    )
    asked = Message(
        id="01a",
        tenant_id=team.tenant_id,
        conversation_id=conversation,
        role=MessageRole.USER,
        content="antes",
        status=MessageStatus.COMPLETE,
        created_at=clock.now(),
    )
    answered = msgspec.structs.replace(
        asked, id="01b", role=MessageRole.ASSISTANT, content="feito", tool_calls=records, reply_to="01a"
    )
    async with uc.ports.uow() as uow:
        await uow.messages.add(asked)
        await uow.messages.add(answered)
        await uow.commit()
    model.script(say("ok"))

    await uc.conversations.send(team.member, conversation, NewMessage(content="e agora?"))

    sent = model.requests[0].messages
    kept = records[-HISTORY_TOOL_CALLS:]
    assert [m.role for m in sent] == ["system", "user", "assistant", *["tool"] * len(kept), "assistant", "user"]
    calls = sent[2]
    assert calls.content == ""
    assert [c.id for c in calls.tool_calls] == [r.id for r in kept]
    assert calls.tool_calls[-1].arguments == cap(kept[-1].arguments, HISTORY_TOOL_RESULT)
    assert [(m.tool_call_id, m.content) for m in sent[3:-2]] == [
        (r.id, cap(r.result, HISTORY_TOOL_RESULT)) for r in kept
    ]
    assert sent[-3].content.endswith("[truncated: 3000 more characters]")
    assert (sent[-2].content, sent[-1].content) == ("feito", "e agora?")


async def test_admin_edits_make_versions_and_private_agents_stay_in_their_tenant_on_memory(
    uc: UseCases, team: Team, admin: Principal, model: ScriptedModel
) -> None:
    new = NewAgent(id="mem-agent", vertical="operations", name="Mem", instructions="x", tools=["list_projects"])
    with pytest.raises(Forbidden):
        await uc.agents.create(team.owner, new)
    with pytest.raises(Unprocessable):
        await uc.agents.create(admin, msgspec.structs.replace(new, tools=["nope"]))
    assert (await uc.agents.create(admin, new)).version == 1
    conversation = await _chat(uc, team.member, "mem-agent")
    assert (await uc.agents.update(admin, "mem-agent", AgentChanges(name="Mem 2"))).version == 2
    assert (await uc.conversations.get(team.member, conversation)).agent_version == 1
    assert (await uc.agents.get("mem-agent")).name == "Mem 2"

    private = await uc.agents.create_private(team.owner, msgspec.structs.replace(new, id=None))
    other = await make_team(uc, admin)
    listed = await uc.agents.list(PageRequest(limit=500), AgentFilter(), team.member)
    assert private.id in {a.id for a in listed.items}
    assert private.id not in {a.id for a in (await uc.agents.list(PageRequest(limit=500), AgentFilter())).items}
    theirs = await uc.agents.list(PageRequest(limit=500), AgentFilter(), other.member)
    assert private.id not in {a.id for a in theirs.items}
    with pytest.raises(NotFound):
        await uc.conversations.start(other.member, NewConversation(agent_id=private.id))
    with pytest.raises(NotFound):
        await uc.agents.update_private(other.owner, private.id, AgentChanges(name="meu"))
    with pytest.raises(Forbidden):
        await uc.agents.create_private(team.member, new)
    await uc.agents.delete(admin, "mem-agent")
    with pytest.raises(NotFound):
        await uc.agents.get("mem-agent")
    await uc.agents.delete_private(team.owner, private.id)
    await uc.agents.delete(admin, "helpdesk")  # a shipped agent: a tombstone hides it
    assert set(store(uc).agents) == {"helpdesk"}
    assert store(uc).agents["helpdesk"].deleted
    with pytest.raises(NotFound):
        await uc.agents.get("helpdesk")


async def test_a_tenant_keeps_a_bounded_number_of_private_agents_on_the_platforms_model(
    uc: UseCases, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tesserra_core.usecases.agents.MAX_PRIVATE_AGENTS", 2)
    new = NewAgent(vertical="support", name="P", instructions="x")
    with pytest.raises(Unprocessable) as refused:
        await uc.agents.create_private(team.owner, msgspec.structs.replace(new, model="the-priciest-one"))
    assert refused.value.code == "model_not_allowed"
    first = await uc.agents.create_private(team.owner, new)
    with pytest.raises(Unprocessable):
        await uc.agents.update_private(team.owner, first.id, AgentChanges(model="the-priciest-one"))
    await uc.agents.create_private(team.owner, new)
    with pytest.raises(Conflict) as full:
        await uc.agents.create_private(team.owner, new)
    assert full.value.code == "agent_limit"
    await uc.agents.delete_private(team.owner, first.id)
    assert (await uc.agents.create_private(team.owner, new)).version == 1
