"""ConversationRepository and MessageRepository contract: round trips (the agent snapshot, tool calls and
usage intact), the user's own within the tenant, pages, the recent history, and deletion taking the
messages with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from tesserra_core.domain.agents import agent_catalog
from tesserra_core.domain.conversations import (
    Conversation,
    ConversationStatus,
    Message,
    MessageStatus,
    Role,
    StopReason,
    ToolCallRecord,
    ToolOutcome,
    Usage,
)
from tesserra_core.domain.paging import PageRequest
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id
from tests.contract.project_entities import seed_tenant


def conversation(tenant_id: str, user_id: str, **changes: Any) -> Conversation:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "user_id": user_id,
        "agent": agent_catalog().agent("ops-assistant"),
        "title": "Ops assistant",
        "status": ConversationStatus.ACTIVE,
        "created_at": T0,
        "updated_at": T0,
    }
    return Conversation(**(values | changes))


def message(c: Conversation, content: str, **changes: Any) -> Message:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": c.tenant_id,
        "conversation_id": c.id,
        "role": Role.USER,
        "content": content,
        "status": MessageStatus.COMPLETE,
        "created_at": T0,
    }
    return Message(**(values | changes))


async def _add(uow_factory: UnitOfWorkFactory, *items: Conversation | Message) -> None:
    async with uow_factory() as uow:
        for item in items:
            if isinstance(item, Conversation):
                await uow.conversations.add(item)
            else:
                await uow.messages.add(item)
        await uow.commit()


async def test_round_trip_keeps_the_agent_snapshot_tool_calls_and_usage(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    record = ToolCallRecord(id="call_1", name="list_projects", arguments="{}", outcome=ToolOutcome.OK, result='{"a":1}')
    answer = message(
        c,
        "Olá ✓",
        role=Role.ASSISTANT,
        stop_reason=StopReason.ANSWER,
        tool_calls=(record,),
        usage=Usage(prompt_tokens=12, completion_tokens=3, estimated=True),
        latency_ms=42,
    )
    failed = message(c, "", role=Role.ASSISTANT, status=MessageStatus.FAILED, error="no provider")
    await _add(uow_factory, c, answer, failed)

    async with uow_factory(read_only=True) as uow:
        assert await uow.conversations.get(tenant.id, c.user_id, c.id) == c
        page = await uow.messages.list(tenant.id, c.id, PageRequest())
    assert page == ([answer, failed], 2)


async def test_a_conversation_is_its_users_in_its_tenant_only(uow_factory: UnitOfWorkFactory) -> None:
    tenant, other = await seed_tenant(uow_factory), await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    await _add(uow_factory, c, message(c, "x"))

    async with uow_factory() as uow:
        assert await uow.conversations.get(tenant.id, new_id(), c.id) is None
        assert await uow.conversations.get(other.id, c.user_id, c.id) is None
        assert await uow.conversations.list(tenant.id, new_id(), PageRequest()) == ([], 0)
        assert await uow.messages.list(other.id, c.id, PageRequest()) == ([], 0)
        assert await uow.conversations.delete(tenant.id, new_id(), c.id) is False
        assert await uow.conversations.delete(other.id, c.user_id, c.id) is False
        assert await uow.conversations.update(msgspec.structs.replace(c, tenant_id=other.id, title="t")) is False
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.conversations.get(tenant.id, c.user_id, c.id) == c


async def test_lists_are_most_recent_first_and_filter_by_status(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    user = new_id()
    old = conversation(tenant.id, user)
    new = conversation(tenant.id, user, updated_at=T0 + timedelta(minutes=1))
    archived = conversation(tenant.id, user, status=ConversationStatus.ARCHIVED, updated_at=T0 + timedelta(minutes=2))
    await _add(uow_factory, old, new, archived)

    async with uow_factory(read_only=True) as uow:
        assert await uow.conversations.list(tenant.id, user, PageRequest()) == ([archived, new, old], 3)
        assert await uow.conversations.list(tenant.id, user, PageRequest(limit=1, offset=1)) == ([new], 3)
        active = await uow.conversations.list(tenant.id, user, PageRequest(), ConversationStatus.ACTIVE)
    assert active == ([new, old], 2)


async def test_update_stores_title_status_and_time(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    await _add(uow_factory, c)
    changed = msgspec.structs.replace(
        c, title="Novo", status=ConversationStatus.ARCHIVED, updated_at=T0 + timedelta(hours=1)
    )
    async with uow_factory() as uow:
        assert await uow.conversations.update(changed) is True
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.conversations.get(tenant.id, c.user_id, c.id) == changed


async def test_recent_is_the_last_messages_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c = conversation(tenant.id, new_id())
    messages = [message(c, f"m{n}") for n in range(5)]
    await _add(uow_factory, c, *messages)
    async with uow_factory(read_only=True) as uow:
        assert await uow.messages.recent(tenant.id, c.id, 3) == messages[2:]
        assert await uow.messages.recent(tenant.id, c.id, 10) == messages


async def test_delete_takes_the_messages_with_it(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await seed_tenant(uow_factory)
    c, kept = conversation(tenant.id, new_id()), conversation(tenant.id, new_id())
    await _add(uow_factory, c, kept, message(c, "a"), message(c, "b"), message(kept, "c"))
    async with uow_factory() as uow:
        assert await uow.conversations.delete(tenant.id, c.user_id, c.id) is True
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.conversations.get(tenant.id, c.user_id, c.id) is None
        assert await uow.messages.list(tenant.id, c.id, PageRequest()) == ([], 0)
        assert (await uow.messages.list(tenant.id, kept.id, PageRequest()))[1] == 1
