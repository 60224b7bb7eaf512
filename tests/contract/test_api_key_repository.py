"""ApiKeyRepository contract: round trip, prefix uniqueness, newest-first pages, revoke, touch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tesserra_core.domain.identity import ApiKey, Scope, Tenant, Tier, User
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, api_key, ascending_ids, membership, seed_member, user


async def _add(uow_factory: UnitOfWorkFactory, *keys: ApiKey) -> None:
    async with uow_factory() as uow:
        for k in keys:
            await uow.api_keys.add(k)
        await uow.commit()


async def _get(uow_factory: UnitOfWorkFactory, k: ApiKey) -> ApiKey | None:
    async with uow_factory(read_only=True) as uow:
        return await uow.api_keys.get(k.tenant_id, k.id)


@pytest.fixture
async def owner(uow_factory: UnitOfWorkFactory) -> tuple[Tenant, User]:
    return await seed_member(uow_factory)


async def test_round_trip_keeps_every_field(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    k = api_key(
        t.id,
        u.id,
        scopes=frozenset({Scope.ADMIN, Scope.KEYS_READ, Scope.BILLING_WRITE}),
        tier=Tier.ADMIN,
        expires_at=T0 + timedelta(days=90),
        last_used_at=T0 + timedelta(hours=1),
        revoked_at=T0 + timedelta(hours=2),
    )
    await _add(uow_factory, k)

    async with uow_factory() as uow:
        by_id = await uow.api_keys.get(t.id, k.id)
        by_prefix = await uow.api_keys.get_by_prefix(k.prefix)

    assert by_id == k
    assert by_prefix == k
    assert by_id is not None
    assert isinstance(by_id.scopes, frozenset)
    assert by_id.tier is Tier.ADMIN
    assert by_id.expires_at is not None
    assert by_id.expires_at.utcoffset() == timedelta(0)


async def test_a_key_without_scopes_round_trips(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    k = api_key(t.id, u.id, scopes=frozenset())
    await _add(uow_factory, k)

    assert await _get(uow_factory, k) == k


async def test_get_is_scoped_by_tenant(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    other_tenant, _ = await seed_member(uow_factory)
    k = api_key(t.id, u.id)
    await _add(uow_factory, k)

    async with uow_factory() as uow:
        assert await uow.api_keys.get(other_tenant.id, k.id) is None
        assert await uow.api_keys.get_by_prefix("nosuchprefix") is None


async def test_a_taken_prefix_conflicts(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    first = api_key(t.id, u.id)
    await _add(uow_factory, first)

    with pytest.raises(Conflict):
        await _add(uow_factory, api_key(t.id, u.id, prefix=first.prefix))


async def test_list_is_newest_first_with_the_total(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    keys = [api_key(t.id, u.id, id=i) for i in ascending_ids(3)]
    await _add(uow_factory, keys[1], keys[0], keys[2])

    async with uow_factory(read_only=True) as uow:
        found, total = await uow.api_keys.list(t.id, PageRequest())

    assert found == list(reversed(keys))
    assert total == 3


async def test_list_pages_keep_the_total(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    keys = [api_key(t.id, u.id, id=i) for i in ascending_ids(5)]
    await _add(uow_factory, *keys)
    newest_first = list(reversed(keys))

    async with uow_factory(read_only=True) as uow:
        first, first_total = await uow.api_keys.list(t.id, PageRequest(limit=2))
        middle, middle_total = await uow.api_keys.list(t.id, PageRequest(limit=2, offset=2))
        beyond, beyond_total = await uow.api_keys.list(t.id, PageRequest(limit=2, offset=5))

    assert (first, first_total) == (newest_first[:2], 5)
    assert (middle, middle_total) == (newest_first[2:4], 5)
    assert (beyond, beyond_total) == ([], 5)


async def test_list_filters_by_creator_and_never_crosses_tenants(
    uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]
) -> None:
    t, u = owner
    colleague = user()
    elsewhere, stranger = await seed_member(uow_factory)
    async with uow_factory() as uow:
        await uow.users.add(colleague)
        await uow.memberships.add(membership(t.id, colleague.id))
        await uow.commit()
    mine = api_key(t.id, u.id)
    theirs = api_key(t.id, colleague.id)
    await _add(uow_factory, mine, theirs, api_key(elsewhere.id, stranger.id))

    async with uow_factory(read_only=True) as uow:
        only_mine, mine_total = await uow.api_keys.list(t.id, PageRequest(), created_by=u.id)
        everyone, everyone_total = await uow.api_keys.list(t.id, PageRequest())

    assert (only_mine, mine_total) == ([mine], 1)
    assert {k.id for k in everyone} == {mine.id, theirs.id}
    assert everyone_total == 2


async def test_revoke_is_true_once_then_false(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    k = api_key(t.id, u.id)
    await _add(uow_factory, k)
    at = T0 + timedelta(days=1)

    async with uow_factory() as uow:
        first = await uow.api_keys.revoke(t.id, k.id, at)
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.api_keys.revoke(t.id, k.id, at + timedelta(hours=1))
        await uow.commit()

    assert (first, again) == (True, False)
    stored = await _get(uow_factory, k)
    assert stored is not None
    assert stored.revoked_at == at


async def test_revoke_from_another_tenant_is_false_and_changes_nothing(
    uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]
) -> None:
    t, u = owner
    other, _ = await seed_member(uow_factory)
    k = api_key(t.id, u.id)
    await _add(uow_factory, k)

    async with uow_factory() as uow:
        revoked = await uow.api_keys.revoke(other.id, k.id, T0)
        unknown = await uow.api_keys.revoke(t.id, "0" * 26, T0)
        await uow.commit()

    assert (revoked, unknown) == (False, False)
    assert await _get(uow_factory, k) == k


async def test_uncommitted_revoke_is_discarded(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    k = api_key(t.id, u.id)
    await _add(uow_factory, k)

    async with uow_factory() as uow:
        assert await uow.api_keys.revoke(t.id, k.id, T0)

    assert await _get(uow_factory, k) == k


async def test_touch_records_last_use_of_many_keys(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    a, b, untouched = api_key(t.id, u.id), api_key(t.id, u.id), api_key(t.id, u.id)
    await _add(uow_factory, a, b, untouched)

    async with uow_factory() as uow:
        await uow.api_keys.touch({a.id: T0 + timedelta(minutes=1), b.id: T0 + timedelta(minutes=2)})
        await uow.commit()

    got_a, got_b, got_untouched = [await _get(uow_factory, k) for k in (a, b, untouched)]
    assert got_a is not None
    assert got_a.last_used_at == T0 + timedelta(minutes=1)
    assert got_b is not None
    assert got_b.last_used_at == T0 + timedelta(minutes=2)
    assert got_untouched == untouched


async def test_touch_only_moves_forward(uow_factory: UnitOfWorkFactory, owner: tuple[Tenant, User]) -> None:
    t, u = owner
    later = T0 + timedelta(hours=3)
    k = api_key(t.id, u.id, last_used_at=later)
    await _add(uow_factory, k)

    async with uow_factory() as uow:
        await uow.api_keys.touch({k.id: T0 + timedelta(hours=1)})
        await uow.commit()
    stale = await _get(uow_factory, k)
    async with uow_factory() as uow:
        await uow.api_keys.touch({k.id: later + timedelta(seconds=1)})
        await uow.commit()
    fresh = await _get(uow_factory, k)

    assert stale is not None
    assert stale.last_used_at == later
    assert fresh is not None
    assert fresh.last_used_at == later + timedelta(seconds=1)


async def test_touch_of_nothing_or_unknown_keys_is_harmless(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.api_keys.touch({})
        await uow.api_keys.touch({"0" * 26: T0})
        await uow.commit()
