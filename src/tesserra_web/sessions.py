"""Console sessions, kept on the server: the browser holds only a random id in an HttpOnly cookie.

A session starts anonymous (it carries the CSRF token of the login form) and is replaced by a new one,
with a new id and a new CSRF token, when its holder signs in. A signed-in session holds the token pair
that ``uc.sessions.login`` minted; the access token and refresh token never leave the server. Revoking a
console session logs its core session out (``uc.sessions.logout``), so the tokens die on every worker.

The store lives in this worker's memory: a console session does not survive a restart, and a server run
with several workers needs sticky routing for /console (see README, "Console").
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tesserra_core.usecases.sessions import TokenPair

MAX_ANONYMOUS = 10_000
"""Anonymous sessions (a login form shown) kept at most; the oldest is forgotten first."""
IDLE_LIMIT_SECONDS = 12 * 3600.0
"""A signed-in session unused this long is forgotten (its core session lives on until it expires)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ConsoleSession:
    key: str
    """The SHA-256 of the cookie's value: the store never keeps the value itself."""
    csrf: str
    created_at: datetime
    last_seen: datetime
    user_agent: str
    tokens: TokenPair | None = None
    user_id: str | None = None
    core_session_id: str | None = None
    shown_once: dict[str, object] = field(default_factory=dict)
    """Things to show on exactly one page (a new API key's secret), taken when shown."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def signed_in(self) -> bool:
        return self.tokens is not None


def _key(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


class SessionStore:
    def __init__(self) -> None:
        self._signed_in: dict[str, ConsoleSession] = {}
        self._anonymous: OrderedDict[str, ConsoleSession] = OrderedDict()

    def get(self, cookie_value: str | None) -> ConsoleSession | None:
        if not cookie_value or len(cookie_value) > 128:
            return None
        key = _key(cookie_value)
        session = self._signed_in.get(key) or self._anonymous.get(key)
        if session is None:
            return None
        now = _now()
        if session.signed_in and (now - session.last_seen).total_seconds() > IDLE_LIMIT_SECONDS:
            self.drop(session)
            return None
        session.last_seen = now
        return session

    def start(self, user_agent: str) -> tuple[str, ConsoleSession]:
        """A new anonymous session: the cookie value to send, and the session."""
        value = secrets.token_urlsafe(32)
        now = _now()
        session = ConsoleSession(_key(value), secrets.token_urlsafe(32), now, now, user_agent[:200])
        self._anonymous[session.key] = session
        while len(self._anonymous) > MAX_ANONYMOUS:
            self._anonymous.popitem(last=False)
        return value, session

    def sign_in(
        self, old: ConsoleSession | None, tokens: TokenPair, user_id: str, core_session_id: str
    ) -> tuple[str, ConsoleSession]:
        """Rotate: the old session (anonymous or not) is gone, a new id and CSRF token hold the login."""
        if old is not None:
            self.drop(old)
        value, session = self.start(old.user_agent if old else "")
        self._anonymous.pop(session.key, None)
        session.tokens = tokens
        session.user_id = user_id
        session.core_session_id = core_session_id
        self._signed_in[session.key] = session
        return value, session

    def rotate(self, session: ConsoleSession) -> tuple[str, ConsoleSession]:
        """The same login under a new id and CSRF token (after a change of standing); the old id is gone."""
        self.drop(session)
        value, rotated = self.start(session.user_agent)
        self._anonymous.pop(rotated.key, None)
        rotated.tokens, rotated.user_id, rotated.core_session_id = (
            session.tokens,
            session.user_id,
            session.core_session_id,
        )
        if rotated.signed_in:
            self._signed_in[rotated.key] = rotated
        return value, rotated

    def drop(self, session: ConsoleSession) -> None:
        self._signed_in.pop(session.key, None)
        self._anonymous.pop(session.key, None)

    def of_user(self, user_id: str) -> list[ConsoleSession]:
        """The user's signed-in console sessions, newest first."""
        mine = [s for s in self._signed_in.values() if s.user_id == user_id]
        return sorted(mine, key=lambda s: s.created_at, reverse=True)

    def find(self, user_id: str, public_id: str) -> ConsoleSession | None:
        """A session of the user by the id pages show (a prefix of its key, never the cookie's value)."""
        return next((s for s in self.of_user(user_id) if public_id_of(s) == public_id), None)


def public_id_of(session: ConsoleSession) -> str:
    return session.key[:16]
