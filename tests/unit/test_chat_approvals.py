"""Approvals of destructive tool calls on the memory adapters, with the scripted provider and a clock that
moves when told: an approval nobody decides in time is denied (and a decision after its expiry is 409);
a stopping server or a dead one (the start-up repair) ends the waiting answer interrupted and its
approval cancelled, never run; a call the agent's tool does not declare destructive runs at once; an
installation tool is as destructive as its server's annotations say."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.memory.models import ScriptedModel, call, say
from tesserra_adapters.settings import Settings
from tesserra_core.domain.chat_streams import EventName, StreamEvent
from tesserra_core.domain.conversations import (
    Approval,
    ApprovalStatus,
    Message,
    MessageStatus,
    Role,
    ToolOutcome,
)
from tesserra_core.domain.tools import ToolInfo
from tesserra_core.errors import Conflict, NotFound
from tesserra_core.facade import UseCases
from tesserra_core.usecases.agent_tools import InstallationTools
from tesserra_core.usecases.chat_approvals import Decision
from tesserra_core.usecases.conversations import NewConversation, NewMessage
from tesserra_core.usecases.projects import NewProject
from tests.unit.helpers import FakeClock, Team

OPS = "ops-assistant"


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
async def uc(settings: Settings, clock: FakeClock, model: ScriptedModel) -> AsyncIterator[UseCases]:
    async with AsyncExitStack() as stack:
        yield await build(memory_ports(settings, stack, clock=clock, models=model), settings)


async def _waiting(
    uc: UseCases, team: Team, model: ScriptedModel
) -> tuple[str, str, AsyncIterator[StreamEvent], dict[str, str]]:
    """An answer waiting for approval to delete a project: (conversation, project, its events, the
    approval_required data)."""
    project = (await uc.projects.create(team.owner, NewProject(name="loja"))).id
    conversation = (await uc.conversations.start(team.owner, NewConversation(agent_id=OPS))).id
    model.script(call("delete_project", {"project_id": project}), say("Pronto."))
    events = await uc.conversations.stream(team.owner, conversation, NewMessage(content="apaga"))
    async for event in events:
        if event.name is EventName.APPROVAL_REQUIRED:
            return conversation, project, events, json.loads(event.data)
    raise AssertionError("no approval asked")


async def test_an_approval_nobody_decides_in_time_is_denied_and_the_tool_never_runs(
    uc: UseCases, team: Team, model: ScriptedModel, clock: FakeClock
) -> None:
    conversation, project, events, approval = await _waiting(uc, team, model)

    clock.advance(601)  # the default timeout is 600 s
    rest = [e async for e in events]

    [result] = [json.loads(e.data) for e in rest if e.name is EventName.TOOL_RESULT]
    assert result["outcome"] == ToolOutcome.DENIED
    assert json.loads(result["result"])["error"]["code"] == "approval_timeout"
    assert json.loads(rest[-1].data)["status"] == MessageStatus.COMPLETE
    assert (await uc.projects.get(team.owner, project)).id == project
    answer = json.loads(rest[-1].data)["id"]
    with pytest.raises(Conflict) as caught:
        await uc.conversations.decide(
            team.owner, conversation, answer, approval["approval_id"], Decision(decision="approve")
        )
    assert caught.value.code == "approval_decided"
    assert "expired" in caught.value.message


async def test_a_decision_after_the_expiry_is_409_even_before_the_answer_notices(
    uc: UseCases, team: Team, model: ScriptedModel, clock: FakeClock
) -> None:
    conversation, project, events, approval = await _waiting(uc, team, model)
    [live] = uc.conversations.board.live.values()

    clock.advance(601)
    with pytest.raises(Conflict):
        await uc.conversations.decide(
            team.owner, conversation, live.message_id, approval["approval_id"], Decision(decision="approve")
        )

    rest = [e async for e in events]
    [result] = [json.loads(e.data) for e in rest if e.name is EventName.TOOL_RESULT]
    assert json.loads(result["result"])["error"]["code"] == "approval_timeout"
    assert (await uc.projects.get(team.owner, project)).id == project


async def test_a_stopping_server_ends_the_waiting_answer_interrupted_and_its_approval_cancelled(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    async with uc.running():
        conversation, project, events, approval = await _waiting(uc, team, model)
        [live] = uc.conversations.board.live.values()
    rest = [e async for e in events]

    assert [e.name for e in rest] == [EventName.ERROR, EventName.DONE]
    assert json.loads(rest[-1].data)["status"] == MessageStatus.INTERRUPTED
    with pytest.raises(Conflict) as caught:
        await uc.conversations.decide(
            team.owner, conversation, live.message_id, approval["approval_id"], Decision(decision="approve")
        )
    assert "cancelled" in caught.value.message
    assert (await uc.projects.get(team.owner, project)).id == project
    assert len(model.requests) == 1


async def test_the_repair_after_a_dead_server_marks_a_waiting_answer_interrupted_and_cancels_its_approval(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    """What a server killed while an answer waited leaves in the store: the answer pending approval, the
    approval pending. The next start marks both, clearly, and nothing ever runs the call."""
    conversation = (await uc.conversations.start(team.owner, NewConversation(agent_id=OPS))).id
    now = clock.now()
    answer = Message(
        id="01answer",
        tenant_id=team.tenant_id,
        conversation_id=conversation,
        role=Role.ASSISTANT,
        content="",
        status=MessageStatus.PENDING_APPROVAL,
        created_at=now,
    )
    approval = Approval(
        id="01approval",
        tenant_id=team.tenant_id,
        conversation_id=conversation,
        message_id=answer.id,
        tool_call_id="call_1",
        tool="delete_project",
        arguments="{}",
        status=ApprovalStatus.PENDING,
        created_at=now,
        expires_at=now + timedelta(minutes=10),
    )
    async with uc.ports.uow() as uow:
        await uow.messages.add(answer)
        await uow.approvals.add(approval)
        await uow.message_events.add(
            StreamEvent(tenant_id=team.tenant_id, message_id=answer.id, seq=1, name=EventName.MESSAGE_START, data="{}")
        )
        await uow.commit()

    assert await uc.conversations.repair() == 1

    async with uc.ports.uow(read_only=True) as uow:
        stored = await uow.messages.get(team.tenant_id, conversation, answer.id)
        decided = await uow.approvals.get(team.tenant_id, answer.id, approval.id)
        events = await uow.message_events.after(team.tenant_id, answer.id, 0)
    assert stored is not None
    assert stored.status is MessageStatus.INTERRUPTED
    assert decided is not None
    assert decided.status is ApprovalStatus.CANCELLED
    assert [e.name for e in events] == [EventName.MESSAGE_START, EventName.ERROR, EventName.DONE]
    with pytest.raises(Conflict):
        await uc.conversations.decide(team.owner, conversation, answer.id, approval.id, Decision(decision="approve"))
    with pytest.raises(NotFound):  # another user of the tenant
        await uc.conversations.decide(team.member, conversation, answer.id, approval.id, Decision(decision="deny"))


def test_an_installation_tool_is_destructive_as_its_annotations_say() -> None:
    tools = InstallationTools(None, None)  # type: ignore[arg-type]
    plain = ToolInfo(name="read", input_schema={"type": "object"})
    destructive = ToolInfo(name="wipe", input_schema={"type": "object"}, destructive=True)
    assert not tools._tool("i-1", plain).destructive
    assert tools._tool("i-1", destructive).destructive
