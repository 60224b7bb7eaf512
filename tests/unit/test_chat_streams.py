"""Answers generated on the board, on the memory adapters with the scripted provider: a server stopping
ends its answers interrupted with their text; a conversation deleted while its answer streams ends the
answer's followers instead of leaving them waiting; the repair leaves a live answer alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.memory.models import ScriptedModel, Step
from tesserra_adapters.settings import Settings
from tesserra_core.domain.chat_streams import EventName, StreamEvent
from tesserra_core.domain.conversations import MessageStatus
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Conflict, PaymentRequired, RateLimited
from tesserra_core.facade import UseCases
from tesserra_core.ports.models import Finish, TextDelta
from tesserra_core.usecases.billing_plans import NewPlan
from tesserra_core.usecases.chat_streams import AnswerBoard
from tesserra_core.usecases.conversations import NewConversation, NewMessage
from tests.support import eventually
from tests.unit.helpers import FakeClock, Team

FOREVER: list[Step] = [TextDelta("tic "), 0.02] * 10_000


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
async def uc(settings: Settings, clock: FakeClock, model: ScriptedModel) -> AsyncIterator[UseCases]:
    async with AsyncExitStack() as stack:
        yield await build(memory_ports(settings, stack, clock=clock, models=model), settings)


async def _streaming(uc: UseCases, team: Team) -> tuple[str, AsyncIterator[StreamEvent]]:
    conversation = (await uc.conversations.start(team.member, NewConversation(agent_id="ops-assistant"))).id
    events = await uc.conversations.stream(team.member, conversation, NewMessage(content="oi"))
    return conversation, events


async def _until_text(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    seen = []
    async for event in events:
        seen.append(event)
        if event.name is EventName.TEXT_DELTA:
            return seen
    raise AssertionError("no text")


async def test_a_stopping_server_ends_its_answers_interrupted_with_their_text(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(FOREVER)
    async with uc.running():
        conversation, events = await _streaming(uc, team)
        seen = await _until_text(events)
    rest = [e async for e in events]

    assert [e.name for e in rest[-2:]] == [EventName.ERROR, EventName.DONE]
    assert [e.seq for e in seen + rest] == list(range(1, len(seen) + len(rest) + 1))
    page = await uc.conversations.messages(team.member, conversation, PageRequest())
    answer = page.items[-1]
    assert answer.status is MessageStatus.INTERRUPTED
    assert answer.content.startswith("tic ")
    assert not uc.conversations.board.live
    assert await uc.conversations.repair() == 0  # nothing left streaming


async def test_a_conversation_deleted_mid_answer_ends_its_followers(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(FOREVER)
    conversation, events = await _streaming(uc, team)
    await _until_text(events)
    [live] = uc.conversations.board.live.values()
    await uc.conversations.delete(team.member, conversation)
    await uc.conversations.board.stop(live, MessageStatus.CANCELLED)

    rest = await asyncio.wait_for(_drain(events), timeout=10)

    assert rest[-1].name is EventName.DONE
    await eventually(lambda: asyncio.sleep(0, not uc.conversations.board.live or None), within=10)


async def _drain(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [e async for e in events]


async def test_the_repair_leaves_an_answer_generated_here_alone(uc: UseCases, team: Team, model: ScriptedModel) -> None:
    model.script(FOREVER)
    _, events = await _streaming(uc, team)
    await _until_text(events)

    assert await uc.conversations.repair() == 0

    [live] = uc.conversations.board.live.values()
    stopped = await uc.conversations.board.stop(live, MessageStatus.CANCELLED)
    assert stopped.status is MessageStatus.CANCELLED


@pytest.mark.parametrize(
    ("limits", "refusal"),
    [
        (PlanLimits(chat_tool_calls_per_month=3), PaymentRequired),  # less than one answer's 8 tool calls
        (PlanLimits(chat_tool_calls_per_user_per_day=7), RateLimited),
        (PlanLimits(chat_tokens_per_month=0), PaymentRequired),
    ],
)
async def test_a_budget_without_room_for_one_answer_refuses_before_storing_or_calling_the_model(
    uc: UseCases, team: Team, model: ScriptedModel, admin: Principal, limits: PlanLimits, refusal: type[Exception]
) -> None:
    await uc.plans.create(admin, NewPlan(code="free", name="Free", limits=limits))
    conversation = (await uc.conversations.start(team.member, NewConversation(agent_id="ops-assistant"))).id

    with pytest.raises(refusal) as caught:
        await uc.conversations.send(team.member, conversation, NewMessage(content="oi"))

    assert getattr(caught.value, "code", None) in {"chat_budget_spent", "chat_rate_exceeded"}
    assert model.requests == []
    assert (await uc.conversations.messages(team.member, conversation, PageRequest())).total == 0


async def test_an_answer_another_process_generates_is_followed_through_the_store(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    """Two boards on one store stand for two server processes: the second follows the first's answer."""
    model.script([TextDelta("um "), 0.2, TextDelta("dois"), Finish("stop")])
    conversation, mine = await _streaming(uc, team)
    [live] = uc.conversations.board.live.values()
    elsewhere = AnswerBoard(uc.ports.uow, poll=0.01)

    theirs = [e async for e in elsewhere.follow(team.member.tenant_id, conversation, live.message_id, 0)]
    ours = [e async for e in mine]

    assert theirs == ours
    assert theirs[-1].name is EventName.DONE
    assert [e async for e in elsewhere.follow(team.member.tenant_id, conversation, live.message_id, 2)] == ours[2:]


async def test_an_answer_generated_elsewhere_cannot_be_cancelled_here(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    model.script(FOREVER)
    conversation, events = await _streaming(uc, team)
    await _until_text(events)
    board = uc.conversations.board
    [(message_id, live)] = board.live.items()
    del board.live[message_id]  # as another process's board would see it: streaming in the store, not here
    try:
        with pytest.raises(Conflict) as caught:
            await uc.conversations.cancel(team.member, conversation, message_id)
        assert caught.value.code == "answer_elsewhere"
    finally:
        board.live[message_id] = live
    assert (await uc.conversations.cancel(team.member, conversation, message_id)).status is MessageStatus.CANCELLED
