"""Console sessions over the memory adapters with a fake clock: an expired access token is refreshed
behind the page (the refresh token rotates once, even under concurrent pages), ending a session logs
its core session out, and the store forgets idle and surplus anonymous sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal
from tesserra_core.errors import Unauthenticated
from tesserra_core.facade import UseCases
from tesserra_core.ports.security import AccessClaims
from tesserra_core.usecases.sessions import Credentials, RefreshRequest
from tesserra_web import sessions as console_sessions
from tesserra_web.sessions import SessionStore
from tesserra_web.web import Console
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


def _expire_access(uc: UseCases, session: console_sessions.ConsoleSession, actor: Principal) -> None:
    """Swap the session's access token for one of the same login that expired five minutes ago."""
    assert session.tokens is not None
    now = datetime.now(UTC)
    expired = AccessClaims(
        token_id=uc.ports.ids.new(),
        user_id=actor.user_id,
        tenant_id=actor.tenant_id,
        session_id=actor.credential_id,
        role=actor.role.value,
        platform_admin=actor.is_platform_admin,
        issued_at=now - timedelta(minutes=20),
        expires_at=now - timedelta(minutes=5),
    )
    session.tokens = msgspec.structs.replace(session.tokens, access_token=uc.ports.tokens.issue(expired))


async def _signed_in(console: Console) -> tuple[str, console_sessions.ConsoleSession, Principal]:
    pair = await console.uc.sessions.login(Credentials(email=EMAIL, password=PASSWORD))
    actor = await console.uc.authenticate(pair.access_token)
    _, anonymous = console.store.start("test")
    value, session = console.store.sign_in(anonymous, pair, actor.user_id, actor.credential_id)
    return value, session, actor


async def test_an_expired_access_token_is_refreshed_once_for_concurrent_pages(setup) -> None:
    uc, _ = setup
    console = Console(uc, SessionStore())
    _, session, actor = await _signed_in(console)
    assert session.tokens is not None
    first_refresh = session.tokens.refresh_token
    _expire_access(uc, session, actor)
    actors = await asyncio.gather(*(console.principal_of(session) for _ in range(5)))
    assert {a.credential_id for a in actors} == {actors[0].credential_id}
    assert session.tokens.refresh_token != first_refresh
    with pytest.raises(Unauthenticated):  # the old one was used once, by the console, and no more
        await uc.sessions.refresh(RefreshRequest(refresh_token=first_refresh))


async def test_ending_a_session_logs_its_core_session_out_even_after_expiry(setup) -> None:
    uc, _ = setup
    console = Console(uc, SessionStore())
    value, session, actor = await _signed_in(console)
    _expire_access(uc, session, actor)
    await console.end(session)
    assert console.store.get(value) is None
    with pytest.raises(Unauthenticated):
        await console.principal_of(session)
    assert session.tokens is not None
    latest = session.tokens.refresh_token  # the one refreshed just before the logout
    with pytest.raises(Unauthenticated):
        await uc.sessions.refresh(RefreshRequest(refresh_token=latest))


async def test_the_store_rotates_and_forgets(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    uc, _ = setup
    store = SessionStore()
    console = Console(uc, store)
    value, session, _ = await _signed_in(console)
    assert store.get(value) is session
    assert store.get(value + "x") is None
    assert store.get("x" * 129) is None
    session.last_seen -= timedelta(seconds=console_sessions.IDLE_LIMIT_SECONDS + 1)
    assert store.get(value) is None  # idle too long
    monkeypatch.setattr(console_sessions, "MAX_ANONYMOUS", 3)
    opened = [store.start("ua")[0] for _ in range(5)]
    assert [store.get(v) is not None for v in opened] == [False, False, True, True, True]
