"""Mailbox and email alias repositories: the same contract on memory, SQLite and PostgreSQL (tenant
scoping, platform-wide uniqueness of addresses, counts per domain, pages)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tesserra_core.domain.domains import Domain
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.domain_entities import a_tenant, add_domain, domain
from tests.contract.entities import T0, new_id


def mailbox(d: Domain, **changes: Any) -> Mailbox:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": d.tenant_id,
        "domain_id": d.id,
        "address": f"u{uuid.uuid4().hex[:8]}@{d.name}",
        "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        "quota_bytes": 1024**3,
        "created_at": T0,
        "updated_at": T0,
    }
    return Mailbox(**{**values, **changes})


def alias(d: Domain, **changes: Any) -> EmailAlias:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": d.tenant_id,
        "domain_id": d.id,
        "source": f"a{uuid.uuid4().hex[:8]}@{d.name}",
        "destinations": ("x@example.org", f"y@{d.name}"),
        "created_at": T0,
        "updated_at": T0,
    }
    return EmailAlias(**{**values, **changes})


async def test_mailboxes_round_trip_unique_and_scoped(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    boxes = sorted((mailbox(d) for _ in range(3)), key=lambda m: m.address)
    async with uow_factory() as uow:
        for m in boxes:
            await uow.mailboxes.add(m)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.mailboxes.add(mailbox(d, address=boxes[0].address))
    changed = mailbox(d, id=boxes[1].id, address=boxes[1].address, quota_bytes=5, password_hash="new")
    async with uow_factory() as uow:
        await uow.mailboxes.update(changed)
        assert await uow.mailboxes.get(theirs, boxes[0].id) is None
        assert not await uow.mailboxes.delete(theirs, boxes[0].id)
        assert await uow.mailboxes.delete(mine, boxes[2].id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.mailboxes.get(mine, boxes[1].id) == changed
        assert await uow.mailboxes.get_by_address(boxes[0].address) == boxes[0]
        page, total = await uow.mailboxes.list(mine, PageRequest(500, 0))
        assert (page, total) == ([boxes[0], changed], 2)
        assert await uow.mailboxes.count(mine) == 2
        assert await uow.mailboxes.count_for_domain(mine, d.id) == 2
        assert await uow.mailboxes.count_for_domain(theirs, d.id) == 0
        assert (await uow.mailboxes.list(theirs, PageRequest()))[1] == 0


async def test_aliases_round_trip_unique_and_scoped(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await a_tenant(uow_factory), await a_tenant(uow_factory)
    d = await add_domain(uow_factory, domain(mine))
    made = sorted((alias(d) for _ in range(3)), key=lambda a: a.source)
    async with uow_factory() as uow:
        for a in made:
            await uow.email_aliases.add(a)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.email_aliases.add(alias(d, source=made[0].source))
    changed = alias(d, id=made[1].id, source=made[1].source, destinations=("only@example.org",))
    async with uow_factory() as uow:
        await uow.email_aliases.update(changed)
        assert await uow.email_aliases.get(theirs, made[0].id) is None
        assert not await uow.email_aliases.delete(theirs, made[0].id)
        assert await uow.email_aliases.delete(mine, made[2].id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.email_aliases.get(mine, made[1].id) == changed
        assert await uow.email_aliases.get_by_source(made[0].source) == made[0]
        assert await uow.email_aliases.all(mine) == [made[0], changed]
        assert await uow.email_aliases.all(theirs) == []
        page, total = await uow.email_aliases.list(mine, PageRequest(1, 1))
        assert (page, total) == ([changed], 2)
        assert await uow.email_aliases.count_for_domain(mine, d.id) == 2
