"""Web console sessions, in the shared store: every worker, and a restarted server, knows them.

The browser holds a random value in an HttpOnly cookie; the store keeps its SHA-256 only. A session starts
anonymous (it carries the CSRF token of the login form) and is replaced, under a new value and a new CSRF
token, when its holder signs in, changes password, changes role or switches tenant. A signed-in session
points at the core login session (``Session``) it acts through and keeps no token: the console's caller is
resolved from that login, its user and membership (cached per worker until a revocation names them), so a
revoked login, a removed member or a suspended tenant ends the console session on every worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import msgspec

from tesserra_core.domain.identity import AuthMethod, ConsoleSession, Principal, Session
from tesserra_core.errors import Forbidden, Unauthenticated
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.caching import Fresh, TaggedCache
from tesserra_core.usecases.credentials import Revoker, _standing, principal_tags, session_tag

CONSOLE_IDLE = timedelta(hours=12)
"""A console session unused this long is over (housekeeping forgets it)."""
ANONYMOUS_IDLE = timedelta(hours=1)
"""An anonymous session (a login form's CSRF token, nobody signed in) unused this long is over. With the
per-address limit on opening them (the ``console_session`` rate rule), the rows anyone can make without
an account stay bounded."""
_TOUCH_EVERY = timedelta(minutes=1)
"""``last_seen`` is written at most this often: a page view is not a database write."""
_CACHE_SECONDS = 60.0
_MAX_COOKIE = 128
_MAX_AGENT = 200


def session_key(cookie_value: str) -> str:
    """What the store keeps of a cookie's value."""
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def public_id_of(session: ConsoleSession) -> str:
    """The id pages show (a prefix of the key, never the cookie's value)."""
    return session.key[:16]


@dataclass(frozen=True, slots=True)
class ConsoleSessions:
    """The console driver's sessions: open, find, sign in, rotate, switch tenant, end; and one-time values."""

    uow: UnitOfWorkFactory
    secrets: SecretGenerator
    ids: IdFactory
    clock: Clock
    box: SecretBox
    revoker: Revoker
    cache: TaggedCache[Principal]

    async def open(self, user_agent: str) -> tuple[str, ConsoleSession]:
        """A new anonymous session: the cookie value to send, and the session."""
        async with self.uow() as uow:
            value, session = await self._new(uow, user_agent)
            await uow.commit()
        return value, session

    async def find(self, cookie_value: str | None) -> ConsoleSession | None:
        """The live session the cookie names, or None (unknown, or idle for longer than ``CONSOLE_IDLE``)."""
        if not cookie_value or len(cookie_value) > _MAX_COOKIE:
            return None
        key = session_key(cookie_value)
        async with self.uow(read_only=True) as uow:
            session = await uow.console_sessions.get(key)
        if session is None:
            return None
        now = self.clock.now()
        if now - session.last_seen > (CONSOLE_IDLE if session.signed_in else ANONYMOUS_IDLE):
            await self.end(session)
            return None
        if now - session.last_seen > _TOUCH_EVERY:
            async with self.uow() as uow:
                await uow.console_sessions.touch(key, now)
                await uow.commit()
            session = msgspec.structs.replace(session, last_seen=now)
        return session

    async def sign_in(
        self, old: ConsoleSession | None, actor: Principal, user_agent: str
    ) -> tuple[str, ConsoleSession]:
        """Bind the login ``actor`` just made (a JWT principal) to a new session; the old one is gone."""
        if actor.method is not AuthMethod.JWT:
            raise Unauthenticated("the console signs in with a login session", code="not_a_session")
        async with self.uow() as uow:
            if old is not None:
                await uow.console_sessions.delete(old.key)
            value, session = await self._new(
                uow,
                old.user_agent if old else user_agent,
                user_id=actor.user_id,
                login_id=actor.credential_id,
                actor=actor,
            )
            await uow.commit()
        return value, session

    async def rotate(self, session: ConsoleSession, actor: Principal) -> tuple[str, ConsoleSession]:
        """The same login under a new value and CSRF token (after a change of standing); the old value is dead."""
        async with self.uow() as uow:
            await uow.console_sessions.delete(session.key)
            value, rotated = await self._new(
                uow, session.user_agent, user_id=session.user_id, login_id=session.login_id, actor=actor
            )
            await uow.commit()
        return value, rotated

    async def principal(self, session: ConsoleSession) -> Principal:
        """Who a signed-in session acts as; raises the core's error when its login has ended."""
        if session.login_id is None or session.user_id is None:
            raise Unauthenticated("sign in first", code="not_signed_in")
        login_id, user_id = session.login_id, session.user_id
        now = self.clock.monotonic()

        async def standing() -> Fresh[Principal]:
            async with self.uow(read_only=True) as uow:
                login = await uow.sessions.get(login_id)
                if login is None or login.revoked_at is not None or login.user_id != user_id:
                    raise Unauthenticated("this session has ended", code="session_revoked")
                user, membership, _tenant = await _standing(uow, login.user_id, login.tenant_id)
            actor = msgspec.structs.replace(Principal.member(user, membership, AuthMethod.JWT, login.id), console=True)
            return actor, now + _CACHE_SECONDS, principal_tags(actor)

        return await self.cache.fetch(f"console:{login_id}", now, standing)

    async def switch(self, session: ConsoleSession, actor: Principal, tenant_id: str) -> tuple[str, ConsoleSession]:
        """Act in another of the user's tenants: a new login there, under a new session value; the old login
        ends. Another tenant is ``no_membership`` (403), whether it exists or not."""
        async with self.uow() as uow:
            membership = await uow.memberships.get(tenant_id, actor.user_id)
            tenant = await uow.tenants.get(tenant_id) if membership is not None else None
            if membership is None or tenant is None:
                raise Forbidden("you are not a member of that tenant", code="no_membership")
            if not tenant.active:
                raise Forbidden("this tenant is suspended", code="tenant_suspended")
            now = self.clock.now()
            login = Session(
                id=self.ids.new(), tenant_id=tenant_id, user_id=actor.user_id, created_at=now, revoked_at=None
            )
            await uow.sessions.add(login)
            await self._end_login(uow, actor.credential_id)
            await uow.console_sessions.delete(session.key)
            switched = msgspec.structs.replace(actor, tenant_id=tenant_id, role=membership.role)
            value, rotated = await self._new(
                uow, session.user_agent, user_id=actor.user_id, login_id=login.id, actor=switched
            )
            await uow.commit()
        self.revoker.evict(session_tag(actor.credential_id))
        return value, rotated

    async def end(self, session: ConsoleSession) -> None:
        """Sign a session out: its login ends (on every worker) and the store forgets it."""
        async with self.uow() as uow:
            await uow.console_sessions.delete(session.key)
            if session.login_id is not None:
                await self._end_login(uow, session.login_id)
            await uow.commit()
        if session.login_id is not None:
            self.revoker.evict(session_tag(session.login_id))

    async def of_user(self, user_id: str) -> list[ConsoleSession]:
        """The user's signed-in console sessions, newest first."""
        async with self.uow(read_only=True) as uow:
            return await uow.console_sessions.list_for_user(user_id)

    async def stash(self, session: ConsoleSession, payload: bytes) -> None:
        """Keep ``payload`` (sealed) for exactly one later page of this session."""
        sealed = self.box.seal(payload, context=f"console:{session.key}")
        async with self.uow() as uow:
            await uow.console_sessions.set_shown(session.key, sealed)
            await uow.commit()

    async def take(self, session: ConsoleSession) -> bytes | None:
        """What ``stash`` kept, once: the next call answers None."""
        async with self.uow() as uow:
            sealed = await uow.console_sessions.take_shown(session.key)
            await uow.commit()
        return None if sealed is None else self.box.open(sealed, context=f"console:{session.key}")

    async def _end_login(self, uow: UnitOfWork, login_id: str) -> None:
        await uow.sessions.revoke(login_id, self.clock.now())
        await self.revoker.publish(uow, session_tag(login_id))

    async def _new(
        self,
        uow: UnitOfWork,
        user_agent: str,
        *,
        user_id: str | None = None,
        login_id: str | None = None,
        actor: Principal | None = None,
    ) -> tuple[str, ConsoleSession]:
        value = self.secrets.token(32)
        now = self.clock.now()
        session = ConsoleSession(
            key=session_key(value),
            csrf=self.secrets.token(32),
            user_agent=user_agent[:_MAX_AGENT],
            created_at=now,
            last_seen=now,
            user_id=user_id,
            login_id=login_id,
            role=actor.role if actor is not None else None,
        )
        await uow.console_sessions.add(session)
        return value, session


def console_sessions(p: Ports, *, revoker: Revoker, cache: TaggedCache[Principal]) -> ConsoleSessions:
    return ConsoleSessions(p.uow, p.secrets, p.ids, p.clock, p.secret_box, revoker, cache)
