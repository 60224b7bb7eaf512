"""UserRepository and MembershipRepository contract: round trips, uniqueness, rehash on login."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from tesserra_core.domain.identity import Role, User
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, membership, seed_member, tenant, user


async def _add(uow_factory: UnitOfWorkFactory, u: User) -> None:
    async with uow_factory() as uow:
        await uow.users.add(u)
        await uow.commit()


async def _get(uow_factory: UnitOfWorkFactory, user_id: str) -> User:
    async with uow_factory(read_only=True) as uow:
        found = await uow.users.get(user_id)
    assert found is not None
    return found


async def test_round_trip_keeps_every_field(uow_factory: UnitOfWorkFactory) -> None:
    u = user(is_platform_admin=True, active=False, failed_logins=3, locked_until=T0 + timedelta(minutes=15))
    await _add(uow_factory, u)

    async with uow_factory() as uow:
        by_id = await uow.users.get(u.id)
        by_email = await uow.users.get_by_email(u.email)

    assert by_id == u
    assert by_email == u
    assert by_id is not None
    assert by_id.locked_until is not None
    assert by_id.locked_until.utcoffset() == timedelta(0)


async def test_unknown_user_is_none(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.users.get("0" * 26) is None
        assert await uow.users.get_by_email("nobody-at-all@example.com") is None


async def test_adding_a_taken_email_conflicts(uow_factory: UnitOfWorkFactory) -> None:
    first = user()
    await _add(uow_factory, first)

    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.users.add(user(email=first.email))


async def test_count_counts_committed_users(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        before = await uow.users.count()
    await _add(uow_factory, user())
    await _add(uow_factory, user())

    async with uow_factory() as uow:
        assert await uow.users.count() == before + 2


async def test_update_stores_the_changes(uow_factory: UnitOfWorkFactory) -> None:
    u = user()
    await _add(uow_factory, u)
    changed = user(
        id=u.id,
        email=u.email,
        name="Ana S.",
        password_hash="new-hash",
        is_platform_admin=True,
        active=False,
        failed_logins=2,
        locked_until=T0 + timedelta(hours=1),
        created_at=u.created_at,
    )

    async with uow_factory() as uow:
        await uow.users.update(changed)
        await uow.commit()

    assert await _get(uow_factory, u.id) == changed


async def test_clear_failed_logins_resets_count_and_lock_and_keeps_the_hash(uow_factory: UnitOfWorkFactory) -> None:
    u = user(failed_logins=3, locked_until=T0)
    await _add(uow_factory, u)

    async with uow_factory() as uow:
        await uow.users.clear_failed_logins(u.id)
        await uow.commit()

    stored = await _get(uow_factory, u.id)
    assert (stored.failed_logins, stored.locked_until) == (0, None)
    assert stored.password_hash == u.password_hash


async def test_clear_failed_logins_stores_a_new_hash(uow_factory: UnitOfWorkFactory) -> None:
    u = user(failed_logins=2)
    await _add(uow_factory, u)

    async with uow_factory() as uow:
        await uow.users.clear_failed_logins(u.id, "rehashed")
        await uow.commit()

    stored = await _get(uow_factory, u.id)
    assert stored.password_hash == "rehashed"
    assert stored.failed_logins == 0


async def test_membership_round_trip(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory, role=Role.VIEWER)

    async with uow_factory() as uow:
        got = await uow.memberships.get(t.id, u.id)
        other = await uow.memberships.get(t.id, "0" * 26)

    assert got == membership(t.id, u.id, role=Role.VIEWER)
    assert got is not None
    assert got.role is Role.VIEWER
    assert other is None


async def test_joining_a_tenant_twice_conflicts(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)

    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.memberships.add(membership(t.id, u.id, role=Role.OWNER))

    async with uow_factory() as uow:
        kept = await uow.memberships.get(t.id, u.id)
    assert kept is not None
    assert kept.role is Role.MEMBER


async def test_memberships_of_a_user_are_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    u = user()
    newer, older, elsewhere = tenant(), tenant(), tenant()
    async with uow_factory() as uow:
        await uow.users.add(u)
        other = user()
        await uow.users.add(other)
        for t in (newer, older, elsewhere):
            await uow.tenants.add(t)
        await uow.memberships.add(membership(newer.id, u.id, created_at=T0 + timedelta(days=2)))
        await uow.memberships.add(membership(older.id, u.id, role=Role.OWNER, created_at=T0))
        await uow.memberships.add(membership(elsewhere.id, other.id))
        await uow.commit()

    async with uow_factory() as uow:
        found = await uow.memberships.list_for_user(u.id)

    assert [(m.tenant_id, m.role) for m in found] == [(older.id, Role.OWNER), (newer.id, Role.MEMBER)]


async def test_changing_email_to_a_taken_one_conflicts(uow_factory: UnitOfWorkFactory) -> None:
    first, second = user(), user()
    await _add(uow_factory, first)
    await _add(uow_factory, second)

    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.users.update(msgspec.structs.replace(second, email=first.email))

    assert (await _get(uow_factory, second.id)).email == second.email


async def test_update_writes_the_new_email(uow_factory: UnitOfWorkFactory) -> None:
    u = user()
    await _add(uow_factory, u)
    moved = msgspec.structs.replace(u, email=f"moved-{u.email}")
    async with uow_factory() as uow:
        await uow.users.update(moved)
        await uow.commit()

    assert await _get(uow_factory, u.id) == moved
