"""OAuthStateRepository, OAuthLinkRepository and ClientSyncRepository contract, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import msgspec

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.shared_tools import ClientSync, OAuthLink, OAuthState
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, seed_member, unique


def state(tenant_id: str, user_id: str, **changes: Any) -> OAuthState:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "user_id": user_id,
        "tool_id": "github",
        "provider_id": "github",
        "redirect_uri": "https://tesserra.example.com/api/auth/callback",
        "verifier_sealed": "v1.abc." + "x" * 100,
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=10),
        "used_at": None,
    }
    return OAuthState(**{**values, **changes})


def link(tenant_id: str, user_id: str, **changes: Any) -> OAuthLink:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "tool_id": "github",
        "provider_id": "github",
        "access_token_sealed": "v1.k." + "a" * 80,
        "refresh_token_sealed": "v1.k." + "r" * 80,
        "expires_at": T0 + timedelta(hours=1),
        "scopes": ("read:user", "user:email"),
        "email": "ana@example.com",
        "linked_at": T0,
        "refreshed_at": None,
        "needs_relink": False,
    }
    return OAuthLink(**{**values, **changes})


async def test_state_round_trip_and_unknown(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    s = state(t.id, u.id)
    async with uow_factory() as uow:
        await uow.oauth_states.add(s)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.oauth_states.get(s.id) == s
        assert await uow.oauth_states.get(new_id()) is None


async def test_state_is_consumed_once_even_under_a_race(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    s = state(t.id, u.id)
    async with uow_factory() as uow:
        await uow.oauth_states.add(s)
        await uow.commit()

    async def consume() -> bool:
        async with uow_factory() as uow:
            won = await uow.oauth_states.consume(s.id, T0 + timedelta(minutes=1))
            await uow.commit()
            return won

    results = await asyncio.gather(*(consume() for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    async with uow_factory(read_only=True) as uow:
        stored = await uow.oauth_states.get(s.id)
        assert await uow.oauth_states.consume(new_id(), T0) is False
    assert stored is not None
    assert stored.used_at == T0 + timedelta(minutes=1)


async def test_uncommitted_consume_is_rolled_back(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    s = state(t.id, u.id)
    async with uow_factory() as uow:
        await uow.oauth_states.add(s)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume(s.id, T0)
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume(s.id, T0)
        await uow.commit()


async def test_purge_forgets_only_states_expired_before(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    far = T0 + timedelta(days=3650)
    old, fresh = state(t.id, u.id, expires_at=far - timedelta(seconds=1)), state(t.id, u.id, expires_at=far)
    async with uow_factory() as uow:
        await uow.oauth_states.add(old)
        await uow.oauth_states.add(fresh)
        await uow.commit()
    async with uow_factory() as uow:
        purged = await uow.oauth_states.purge(far)
        await uow.commit()
    assert purged >= 1
    async with uow_factory(read_only=True) as uow:
        assert await uow.oauth_states.get(old.id) is None
        assert await uow.oauth_states.get(fresh.id) == fresh


async def test_link_put_get_replace_and_list(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    first = link(t.id, u.id)
    other_tool = link(t.id, u.id, tool_id="another", refresh_token_sealed=None, expires_at=None, email=None, scopes=())
    async with uow_factory() as uow:
        await uow.oauth_links.put(first)
        await uow.oauth_links.put(other_tool)
        await uow.commit()
    replaced = msgspec.structs.replace(
        first,
        access_token_sealed="v1.k.new",
        refreshed_at=T0 + timedelta(minutes=5),
        needs_relink=True,
        scopes=("repo",),
    )
    async with uow_factory() as uow:
        await uow.oauth_links.put(replaced)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.oauth_links.get(t.id, u.id, "github") == replaced
        assert await uow.oauth_links.list_for_user(t.id, u.id) == [other_tool, replaced]


async def test_links_are_per_tenant_and_user(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    t2, u2 = await seed_member(uow_factory)
    mine = link(t.id, u.id)
    async with uow_factory() as uow:
        await uow.oauth_links.put(mine)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.oauth_links.get(t.id, u2.id, "github") is None
        assert await uow.oauth_links.get(t2.id, u.id, "github") is None
        assert await uow.oauth_links.list_for_user(t2.id, u2.id) == []
        assert await uow.oauth_links.list_for_user(t.id, u2.id) == []


async def test_link_delete(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    async with uow_factory() as uow:
        await uow.oauth_links.put(link(t.id, u.id))
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.oauth_links.delete(t.id, u.id, "github")
        again = await uow.oauth_links.delete(t.id, u.id, "github")
        await uow.commit()
    assert (first, again) == (True, False)
    async with uow_factory(read_only=True) as uow:
        assert await uow.oauth_links.get(t.id, u.id, "github") is None


async def test_link_put_is_rolled_back_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    async with uow_factory() as uow:
        await uow.oauth_links.put(link(t.id, u.id))
    async with uow_factory(read_only=True) as uow:
        assert await uow.oauth_links.get(t.id, u.id, "github") is None


async def test_client_syncs_newest_first_per_tenant_and_instance(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    t2, u2 = await seed_member(uow_factory)
    instance = unique("inst")

    def sync(tenant_id: str, user_id: str, minutes: int, instance_id: str = instance) -> ClientSync:
        return ClientSync(
            id=new_id(),
            tenant_id=tenant_id,
            user_id=user_id,
            instance_id=instance_id,
            client="claude-desktop",
            client_version="1.2.3" if minutes % 2 else None,
            tool_count=minutes if minutes % 2 else None,
            status="ok",
            at=T0 + timedelta(minutes=minutes),
        )

    mine = [sync(t.id, u.id, m) for m in (1, 3, 2)]
    async with uow_factory() as uow:
        for s in [*mine, sync(t2.id, u2.id, 9), sync(t.id, u.id, 8, instance_id="other")]:
            await uow.client_syncs.add(s)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        items, total = await uow.client_syncs.list(t.id, instance, PageRequest(2, 0))
        rest, total_again = await uow.client_syncs.list(t.id, instance, PageRequest(2, 2))
        none, zero = await uow.client_syncs.list(t2.id, "nothing-here", PageRequest(10, 0))
    assert (total, total_again, zero) == (3, 3, 0)
    assert [s.at for s in items + rest] == [T0 + timedelta(minutes=m) for m in (3, 2, 1)]
    assert items[0] == mine[1]
    assert none == []
