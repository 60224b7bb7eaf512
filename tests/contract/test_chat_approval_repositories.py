"""ApprovalRepository contract, on every adapter: an approval round-trips, is found only by its tenant and
answer, leaves ``pending`` exactly once (of 20 racing decisions, approve and deny mixed, one wins), and
an answer pending approval is among those the start-up repair looks at."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec

from tesserra_core.domain.conversations import Approval, ApprovalStatus, Message, MessageStatus, Role
from tesserra_core.errors import TesserraError
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id
from tests.contract.project_entities import seed_tenant
from tests.contract.test_conversation_repositories import _add, conversation, message


async def _pending(uow_factory: UnitOfWorkFactory) -> tuple[Approval, Message]:
    tenant = await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    answer = message(c, "", role=Role.ASSISTANT, status=MessageStatus.PENDING_APPROVAL)
    await _add(uow_factory, c, answer)
    approval = Approval(
        id=new_id(),
        tenant_id=tenant.id,
        conversation_id=c.id,
        message_id=answer.id,
        tool_call_id="call_1",
        tool="delete_project",
        arguments='{"project_id": "p-1"}',
        status=ApprovalStatus.PENDING,
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )
    async with uow_factory() as uow:
        await uow.approvals.add(approval)
        await uow.commit()
    return approval, answer


async def _end(uow_factory: UnitOfWorkFactory, answer: Message) -> None:
    """The answer ends (other tests of the store count the answers still being generated)."""
    async with uow_factory() as uow:
        await uow.messages.update(msgspec.structs.replace(answer, status=MessageStatus.COMPLETE))
        await uow.commit()


async def test_an_approval_round_trips_and_is_decided_once(uow_factory: UnitOfWorkFactory) -> None:
    a, answer = await _pending(uow_factory)
    later = T0 + timedelta(seconds=5)

    async with uow_factory(read_only=True) as uow:
        assert await uow.approvals.get(a.tenant_id, a.message_id, a.id) == a
        assert await uow.approvals.get(new_id(), a.message_id, a.id) is None
        assert await uow.approvals.get(a.tenant_id, new_id(), a.id) is None
        assert await uow.approvals.pending_of(a.tenant_id, a.message_id) == [a]
        assert a.message_id in [m.id for m in await uow.messages.streaming()]
    async with uow_factory() as uow:
        assert not await uow.approvals.decide(new_id(), a.id, ApprovalStatus.APPROVED, later)
        assert await uow.approvals.decide(a.tenant_id, a.id, ApprovalStatus.DENIED, later)
        assert not await uow.approvals.decide(a.tenant_id, a.id, ApprovalStatus.APPROVED, later)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        stored = await uow.approvals.get(a.tenant_id, a.message_id, a.id)
        assert stored == msgspec.structs.replace(a, status=ApprovalStatus.DENIED, decided_at=later)
        assert await uow.approvals.pending_of(a.tenant_id, a.message_id) == []
    await _end(uow_factory, answer)


async def test_of_twenty_racing_decisions_exactly_one_wins(uow_factory: UnitOfWorkFactory) -> None:
    a, answer = await _pending(uow_factory)

    async def decide(status: ApprovalStatus) -> bool:
        for _ in range(50):
            try:
                async with uow_factory() as uow:
                    won = await uow.approvals.decide(a.tenant_id, a.id, status, T0)
                    await uow.commit()
                    return won
            except TesserraError:  # a busy or serialization failure the store reports: try again
                await asyncio.sleep(0.01)
        raise AssertionError("the store kept refusing")

    statuses = [ApprovalStatus.APPROVED, ApprovalStatus.DENIED] * 10
    results = await asyncio.gather(*(decide(s) for s in statuses))

    assert results.count(True) == 1
    winner = statuses[results.index(True)]
    async with uow_factory(read_only=True) as uow:
        stored = await uow.approvals.get(a.tenant_id, a.message_id, a.id)
    assert stored is not None
    assert stored.status is winner
    await _end(uow_factory, answer)
