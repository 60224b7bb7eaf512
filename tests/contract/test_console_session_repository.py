"""ConsoleSessionRepository contract: round trips by key, touch, a value shown once (atomically), a user's
signed-in sessions newest first, delete, purge of idle sessions, and rollback."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from tesserra_core.domain.identity import ConsoleSession, Role
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, seed_session


def _console(**changes: object) -> ConsoleSession:
    key = hashlib.sha256(new_id().encode()).hexdigest()
    fields: dict[str, object] = {
        "key": key,
        "csrf": "c" * 43,
        "user_agent": "Mozilla/5.0",
        "created_at": T0,
        "last_seen": T0,
        **changes,
    }
    return ConsoleSession(**fields)  # type: ignore[arg-type]


async def _add(uow_factory: UnitOfWorkFactory, *sessions: ConsoleSession) -> None:
    async with uow_factory() as uow:
        for s in sessions:
            await uow.console_sessions.add(s)
        await uow.commit()


async def test_round_trip_anonymous_and_signed_in(uow_factory: UnitOfWorkFactory) -> None:
    login = await seed_session(uow_factory)
    anonymous = _console()
    signed = _console(user_id=login.user_id, login_id=login.id, role=Role.MEMBER, shown_once="sealed")
    await _add(uow_factory, anonymous, signed)
    async with uow_factory(read_only=True) as uow:
        assert await uow.console_sessions.get(anonymous.key) == anonymous
        assert await uow.console_sessions.get(signed.key) == signed
        assert await uow.console_sessions.get("0" * 64) is None
    assert not anonymous.signed_in
    assert signed.signed_in


async def test_touch_and_delete(uow_factory: UnitOfWorkFactory) -> None:
    s = _console()
    await _add(uow_factory, s)
    async with uow_factory() as uow:
        await uow.console_sessions.touch(s.key, T0 + timedelta(minutes=5))
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.console_sessions.get(s.key)
        assert stored is not None
        assert stored.last_seen == T0 + timedelta(minutes=5)
        assert await uow.console_sessions.delete(s.key)
        assert not await uow.console_sessions.delete(s.key)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.console_sessions.get(s.key) is None


async def test_a_value_is_taken_once(uow_factory: UnitOfWorkFactory) -> None:
    s = _console()
    await _add(uow_factory, s)
    async with uow_factory() as uow:
        await uow.console_sessions.set_shown(s.key, "sealed-secret")
        await uow.commit()

    async def take() -> str | None:
        async with uow_factory() as uow:
            got = await uow.console_sessions.take_shown(s.key)
            await uow.commit()
            return got

    results = await asyncio.gather(*(take() for _ in range(10)))
    assert [r for r in results if r is not None] == ["sealed-secret"]
    assert await take() is None


async def test_a_users_signed_in_sessions_newest_first(uow_factory: UnitOfWorkFactory) -> None:
    login = await seed_session(uow_factory)
    older = _console(user_id=login.user_id, login_id=login.id, created_at=T0)
    newer = _console(user_id=login.user_id, login_id=login.id, created_at=T0 + timedelta(hours=1))
    await _add(uow_factory, older, newer, _console())
    async with uow_factory(read_only=True) as uow:
        mine = await uow.console_sessions.list_for_user(login.user_id)
        assert [s.key for s in mine] == [newer.key, older.key]
        assert await uow.console_sessions.list_for_user(new_id()) == []


async def test_purge_forgets_idle_sessions_only(uow_factory: UnitOfWorkFactory) -> None:
    far = T0 - timedelta(days=3650)  # older than anything other tests leave in the shared database
    idle, fresh = _console(last_seen=far), _console(last_seen=T0)
    await _add(uow_factory, idle, fresh)
    async with uow_factory() as uow:
        assert await uow.console_sessions.purge(far + timedelta(seconds=1), far + timedelta(seconds=1)) >= 1
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.console_sessions.get(idle.key) is None
        assert await uow.console_sessions.get(fresh.key) == fresh


async def test_purge_forgets_anonymous_sessions_sooner(uow_factory: UnitOfWorkFactory) -> None:
    login = await seed_session(uow_factory)
    seen = T0 - timedelta(days=3000)
    anonymous = _console(last_seen=seen)
    signed_in = _console(user_id=login.user_id, login_id=login.id, last_seen=seen)
    await _add(uow_factory, anonymous, signed_in)
    async with uow_factory() as uow:  # signed-in sessions idle for 12 h, anonymous ones for 1 h, say
        await uow.console_sessions.purge(seen - timedelta(hours=11), seen + timedelta(seconds=1))
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.console_sessions.get(anonymous.key) is None
        assert await uow.console_sessions.get(signed_in.key) == signed_in


async def test_uncommitted_writes_are_discarded(uow_factory: UnitOfWorkFactory) -> None:
    s = _console()
    async with uow_factory() as uow:
        await uow.console_sessions.add(s)
    async with uow_factory(read_only=True) as uow:
        assert await uow.console_sessions.get(s.key) is None
