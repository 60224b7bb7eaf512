"""The console sessions area on the memory adapters with a fake clock: the store keeps only a digest of the
cookie's value, forgets a session idle for too long (and housekeeping purges it), a stashed value is sealed and
taken once, a session follows its login's end, and switching to a tenant one is not a member of is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import ConsoleSession
from tesserra_core.errors import Forbidden, Unauthenticated
from tesserra_core.facade import UseCases
from tesserra_core.usecases.console_sessions import ANONYMOUS_IDLE, CONSOLE_IDLE, session_key
from tesserra_core.usecases.sessions import Credentials
from tests.unit.helpers import FakeClock

EMAIL, PASSWORD = "owner@console.test", "owner-password-1"


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[UseCases, FakeClock]]:
    clock = FakeClock()
    settings = Settings(data_dir=tmp_path, secret_key="x" * 48)
    async with AsyncExitStack() as stack:
        uc = await build(memory_ports(settings, stack, clock=clock), settings)
        assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
        yield uc, clock


async def _signed_in(uc: UseCases) -> tuple[str, ConsoleSession]:
    pair = await uc.sessions.login(Credentials(email=EMAIL, password=PASSWORD))
    actor = await uc.authenticate(pair.access_token)
    _, anonymous = await uc.console_sessions.open("test")
    value, session = await uc.console_sessions.sign_in(anonymous, actor, "test")
    assert await uc.console_sessions.find(value) is not None
    return value, session


async def test_only_a_digest_of_the_cookie_is_stored(setup) -> None:
    uc, _ = setup
    value, _session = await _signed_in(uc)
    stored = uc.ports.uow.store.console_sessions
    assert list(stored) == [session_key(value)]
    assert value not in repr(stored)
    assert await uc.console_sessions.find(value + "x") is None
    assert await uc.console_sessions.find("x" * 129) is None


async def test_an_idle_session_is_over_and_purged(setup) -> None:
    uc, clock = setup
    value, _ = await _signed_in(uc)
    clock.advance(CONSOLE_IDLE.total_seconds() - 60)
    assert await uc.console_sessions.find(value) is not None  # used: idle time starts again
    clock.advance(CONSOLE_IDLE.total_seconds() - 60)
    assert await uc.console_sessions.find(value) is not None
    other, _ = await uc.console_sessions.open("idle")
    clock.advance(CONSOLE_IDLE.total_seconds() + 1)
    assert await uc.console_sessions.find(value) is None
    swept = await uc.housekeeping()
    assert swept.console_sessions == 1  # the anonymous one nobody came back to
    assert await uc.console_sessions.find(other) is None


async def test_an_anonymous_session_is_over_sooner_and_purged(setup) -> None:
    uc, clock = setup
    value, _ = await _signed_in(uc)
    anonymous, _ = await uc.console_sessions.open("login form")
    clock.advance(ANONYMOUS_IDLE.total_seconds() + 1)
    assert await uc.console_sessions.find(anonymous) is None
    second, _ = await uc.console_sessions.open("another login form")
    clock.advance(ANONYMOUS_IDLE.total_seconds() + 1)
    assert (await uc.housekeeping()).console_sessions == 1  # the anonymous one; the signed-in one stays
    assert await uc.console_sessions.find(second) is None
    assert await uc.console_sessions.find(value) is not None


async def test_a_stashed_value_is_sealed_and_taken_once(setup) -> None:
    uc, _ = setup
    _, session = await _signed_in(uc)
    await uc.console_sessions.stash(session, b"tessera_secret_value")
    stored = uc.ports.uow.store.console_sessions[session.key]
    assert stored.shown_once is not None
    assert "tessera_secret_value" not in stored.shown_once
    assert await uc.console_sessions.take(session) == b"tessera_secret_value"
    assert await uc.console_sessions.take(session) is None


async def test_a_session_ends_with_its_login_and_cannot_switch_to_a_strangers_tenant(setup) -> None:
    uc, _ = setup
    value, session = await _signed_in(uc)
    actor = await uc.console_sessions.principal(session)
    with pytest.raises(Forbidden):
        await uc.console_sessions.switch(session, actor, "0" * 26)
    await uc.sessions.logout(actor)  # ended elsewhere (the REST logout)
    with pytest.raises(Unauthenticated):
        await uc.console_sessions.principal(session)
    await uc.console_sessions.end(session)
    assert await uc.console_sessions.find(value) is None
