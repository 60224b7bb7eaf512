"""MessageRepository (answers and keys), MessageEventRepository and ChatBudgetRepository contract, on every
adapter: an answer updated in place (never its conversation, role, key or user message), found by its
user message, a user message by its key (unique per conversation), every streaming answer of every
tenant; events in order, the tenant's own, never stored twice, gone with the conversation; budget
reservations that fit or are refused whole, and that 20 racing reservations cannot overspend."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tesserra_core.domain.chat_streams import EventName, StreamEvent, partial_text
from tesserra_core.domain.conversations import MessageStatus, Role, Usage
from tesserra_core.errors import Conflict, TesserraError
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import new_id
from tests.contract.project_entities import seed_tenant
from tests.contract.test_conversation_repositories import _add, conversation, message


def event(tenant_id: str, message_id: str, seq: int, name: EventName, data: str) -> StreamEvent:
    return StreamEvent(tenant_id=tenant_id, message_id=message_id, seq=seq, name=name, data=data)


async def test_an_answer_is_updated_in_place_and_found_by_its_message_and_key(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    asked = message(c, "oi", idempotency_key="k-1")
    answer = message(c, "", role=Role.ASSISTANT, status=MessageStatus.STREAMING, reply_to=asked.id)
    await _add(uow_factory, c, asked, answer)
    done = msgspec.structs.replace(
        answer,
        content="olá",
        status=MessageStatus.CANCELLED,
        error="cancelled",
        error_code="cancelled",
        usage=Usage(prompt_tokens=3, completion_tokens=2),
        latency_ms=7,
        role=Role.USER,  # never changes
        reply_to=None,  # never changes
    )

    async with uow_factory() as uow:
        assert await uow.messages.streaming() == [answer]
        assert await uow.messages.update(done)
        assert not await uow.messages.update(msgspec.structs.replace(done, tenant_id=new_id()))
        await uow.commit()

    async with uow_factory(read_only=True) as uow:
        stored = await uow.messages.get(tenant.id, c.id, answer.id)
        assert stored == msgspec.structs.replace(done, role=Role.ASSISTANT, reply_to=asked.id)
        assert await uow.messages.get(tenant.id, new_id(), answer.id) is None
        assert await uow.messages.get(new_id(), c.id, answer.id) is None
        assert await uow.messages.reply_to(tenant.id, asked.id) == stored
        assert await uow.messages.reply_to(new_id(), asked.id) is None
        assert await uow.messages.by_key(tenant.id, c.id, "k-1") == asked
        assert await uow.messages.by_key(tenant.id, c.id, "k-2") is None
        assert await uow.messages.by_key(new_id(), c.id, "k-1") is None
        assert answer.id not in [m.id for m in await uow.messages.streaming()]


async def test_a_key_is_unique_within_a_conversation(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c, other = conversation(tenant.id, new_id()), conversation(tenant.id, new_id())
    await _add(uow_factory, c, other, message(c, "oi", idempotency_key="k"), message(other, "oi", idempotency_key="k"))
    with pytest.raises(Conflict):
        await _add(uow_factory, message(c, "de novo", idempotency_key="k"))


async def test_events_come_back_in_order_after_a_seq_and_only_to_their_tenant(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    answer = message(c, "", role=Role.ASSISTANT, status=MessageStatus.STREAMING)
    await _add(uow_factory, c, answer)
    names = [EventName.MESSAGE_START, EventName.TEXT_DELTA, EventName.TEXT_DELTA, EventName.DONE]
    datas = ['{"message_id":"x"}', '{"text":"ol\\u00e1 "}', '{"text":"✓"}', "{}"]
    pairs = enumerate(zip(names, datas, strict=True), start=1)
    events = [event(tenant.id, answer.id, n, name, d) for n, (name, d) in pairs]
    async with uow_factory() as uow:
        for e in reversed(events):
            await uow.message_events.add(e)
        await uow.commit()

    async with uow_factory(read_only=True) as uow:
        assert await uow.message_events.after(tenant.id, answer.id, 0) == events
        assert await uow.message_events.after(tenant.id, answer.id, 2) == events[2:]
        assert await uow.message_events.after(tenant.id, answer.id, 4) == []
        assert await uow.message_events.after(new_id(), answer.id, 0) == []
        assert partial_text(events) == "olá ✓"
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.message_events.add(events[0])

    async with uow_factory() as uow:
        assert await uow.conversations.delete(tenant.id, c.user_id, c.id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.message_events.after(tenant.id, answer.id, 0) == []


async def test_a_reservation_fits_whole_or_not_at_all_and_is_given_back(uow_factory: UnitOfWorkFactory) -> None:
    budget = f"tenant:{new_id()}"
    async with uow_factory() as uow:
        assert await uow.chat_budgets.reserve(budget, "2026-12", 60, 2, 100, 3)
        assert not await uow.chat_budgets.reserve(budget, "2026-12", 41, 1, 100, 3)  # tokens do not fit
        assert not await uow.chat_budgets.reserve(budget, "2026-12", 1, 2, 100, 3)  # tool calls do not fit
        assert await uow.chat_budgets.reserve(budget, "2026-12", 40, 1, 100, 3)
        assert await uow.chat_budgets.reserve(budget, "2027-01", 100, 3, 100, 3)  # another period
        assert await uow.chat_budgets.reserve(f"user:{new_id()}", "2026-12", 10**6, 10**4, None, None)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.chat_budgets.spent(budget, "2026-12") == (100, 3)
        await uow.chat_budgets.release(budget, "2026-12", 55, 2)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.chat_budgets.spent(budget, "2026-12") == (45, 1)
        assert await uow.chat_budgets.spent(budget, "2025-01") == (0, 0)


async def test_twenty_racing_reservations_cannot_overspend(uow_factory: UnitOfWorkFactory) -> None:
    budget = f"tenant:{new_id()}"

    async def reserve() -> bool:
        for _ in range(50):
            try:
                async with uow_factory() as uow:
                    ok = await uow.chat_budgets.reserve(budget, "2026-12", 10, 1, 50, None)
                    await uow.commit()
                    return ok
            except TesserraError:  # a busy or serialization failure the store reports: try again
                await asyncio.sleep(0.01)
        raise AssertionError("the store kept refusing")

    results = await asyncio.gather(*(reserve() for _ in range(20)))

    assert results.count(True) == 5
    async with uow_factory(read_only=True) as uow:
        assert await uow.chat_budgets.spent(budget, "2026-12") == (50, 5)
