"""InvitationRepository and the membership writes of the members area: tenant-scoped reads, pending lists,
accept and revoke once (of two racing accepts, one wins), role changes, removal, owner counts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tesserra_core.domain.identity import Invitation, Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, membership, new_id, seed_member, unique, user


def _invitation(tenant_id: str, invited_by: str, **changes: object) -> Invitation:
    fields: dict[str, object] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "email": f"{unique('inv')}@example.com",
        "role": Role.MEMBER,
        "token_hash": "h" * 64,
        "invited_by": invited_by,
        "created_at": T0,
        "expires_at": T0 + timedelta(days=7),
        "accepted_at": None,
        "revoked_at": None,
        **changes,
    }
    return Invitation(**fields)  # type: ignore[arg-type]


async def test_invitations_are_the_tenants_and_pending_lists_leave_out_the_settled(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t, u = await seed_member(uow_factory, Role.OWNER)
    other, other_user = await seed_member(uow_factory, Role.OWNER)
    first, second, settled = _invitation(t.id, u.id), _invitation(t.id, u.id), _invitation(t.id, u.id)
    theirs = _invitation(other.id, other_user.id)
    async with uow_factory() as uow:
        for i in (first, second, settled, theirs):
            await uow.invitations.add(i)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.invitations.accept(settled.id, T0)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.invitations.get(t.id, first.id) == first
        assert await uow.invitations.get(t.id, theirs.id) is None
        assert await uow.invitations.find(theirs.id) == theirs
        items, total = await uow.invitations.list(t.id, PageRequest(limit=10, offset=0))
    assert [i.id for i in items] == sorted([first.id, second.id], reverse=True)
    assert total == 2


async def test_accept_once_and_revoke_once(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory, Role.OWNER)
    other, _ = await seed_member(uow_factory, Role.OWNER)
    a, b = _invitation(t.id, u.id), _invitation(t.id, u.id)
    async with uow_factory() as uow:
        await uow.invitations.add(a)
        await uow.invitations.add(b)
        await uow.commit()

    async def accept() -> bool:
        async with uow_factory() as uow:
            won = await uow.invitations.accept(a.id, T0)
            await uow.commit()
            return won

    assert (await asyncio.gather(*(accept() for _ in range(8)))).count(True) == 1
    async with uow_factory() as uow:
        assert not await uow.invitations.revoke(t.id, a.id, T0)  # accepted: no longer revocable
        assert not await uow.invitations.revoke(other.id, b.id, T0)  # another tenant's
        assert await uow.invitations.revoke(t.id, b.id, T0)
        assert not await uow.invitations.revoke(t.id, b.id, T0)
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.invitations.accept(b.id, T0)  # revoked


async def test_membership_roles_removal_and_owner_count(uow_factory: UnitOfWorkFactory) -> None:
    t, owner = await seed_member(uow_factory, Role.OWNER)
    second = user()
    async with uow_factory() as uow:
        await uow.users.add(second)
        await uow.memberships.add(membership(t.id, second.id, role=Role.VIEWER, created_at=T0 + timedelta(seconds=1)))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.memberships.count_role(t.id, Role.OWNER) == 1
        assert await uow.memberships.set_role(t.id, second.id, Role.OWNER)
        assert not await uow.memberships.set_role(t.id, new_id(), Role.OWNER)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.memberships.count_role(t.id, Role.OWNER) == 2
        items, total = await uow.memberships.list_for_tenant(t.id, PageRequest(limit=10, offset=0))
        assert [m.user_id for m in items] == [owner.id, second.id]
        assert total == 2
        assert await uow.memberships.delete(t.id, second.id)
        assert not await uow.memberships.delete(t.id, second.id)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.memberships.get(t.id, second.id) is None
