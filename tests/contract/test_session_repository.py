"""SessionRepository and RefreshTokenRepository contract: round trips, revoke once, atomic mark_used."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, refresh_token, seed_member, seed_session, session


async def test_session_round_trip(uow_factory: UnitOfWorkFactory) -> None:
    t, u = await seed_member(uow_factory)
    s = session(t.id, u.id, revoked_at=T0 + timedelta(minutes=5))
    async with uow_factory() as uow:
        await uow.sessions.add(s)
        await uow.commit()

    async with uow_factory(read_only=True) as uow:
        assert await uow.sessions.get(s.id) == s
        assert await uow.sessions.get("0" * 26) is None


async def test_session_revoke_is_true_once_then_false(uow_factory: UnitOfWorkFactory) -> None:
    s = await seed_session(uow_factory)
    at = T0 + timedelta(hours=1)

    async with uow_factory() as uow:
        first = await uow.sessions.revoke(s.id, at)
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.sessions.revoke(s.id, at + timedelta(hours=1))
        unknown = await uow.sessions.revoke("0" * 26, at)
        await uow.commit()
        stored = await uow.sessions.get(s.id)

    assert (first, again, unknown) == (True, False, False)
    assert stored is not None
    assert stored.revoked_at == at


async def test_uncommitted_session_revoke_is_discarded(uow_factory: UnitOfWorkFactory) -> None:
    s = await seed_session(uow_factory)

    async with uow_factory() as uow:
        assert await uow.sessions.revoke(s.id, T0)

    async with uow_factory() as uow:
        assert await uow.sessions.get(s.id) == s


async def test_refresh_token_round_trip(uow_factory: UnitOfWorkFactory) -> None:
    s = await seed_session(uow_factory)
    token = refresh_token(s.id, used_at=T0 + timedelta(minutes=1))
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.commit()

    async with uow_factory(read_only=True) as uow:
        assert await uow.refresh_tokens.get(token.id) == token
        assert await uow.refresh_tokens.get("0" * 26) is None


async def test_mark_used_is_true_once_then_false(uow_factory: UnitOfWorkFactory) -> None:
    s = await seed_session(uow_factory)
    token = refresh_token(s.id)
    at = T0 + timedelta(minutes=3)
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.commit()

    async with uow_factory() as uow:
        first = await uow.refresh_tokens.mark_used(token.id, at)
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.refresh_tokens.mark_used(token.id, at + timedelta(minutes=1))
        unknown = await uow.refresh_tokens.mark_used("0" * 26, at)
        stored = await uow.refresh_tokens.get(token.id)

    assert (first, again, unknown) == (True, False, False)
    assert stored is not None
    assert stored.used_at == at


async def test_uncommitted_mark_used_is_discarded(uow_factory: UnitOfWorkFactory) -> None:
    s = await seed_session(uow_factory)
    token = refresh_token(s.id)
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.refresh_tokens.mark_used(token.id, T0)
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.mark_used(token.id, T0)
        await uow.commit()


async def test_concurrent_mark_used_lets_exactly_one_win(uow_factory: UnitOfWorkFactory) -> None:
    s = await seed_session(uow_factory)
    token = refresh_token(s.id)
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.commit()

    async def use() -> bool:
        async with uow_factory() as uow:
            won = await uow.refresh_tokens.mark_used(token.id, T0)
            await uow.commit()
            return won

    results = await asyncio.gather(*(use() for _ in range(20)))

    assert results.count(True) == 1
