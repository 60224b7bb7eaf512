"""Time, identifiers and randomness: injected so that tests control them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for rate windows and caches)."""
        ...


class IdFactory(Protocol):
    def new(self) -> str:
        """A new unique, roughly time-ordered identifier."""
        ...


class SecretGenerator(Protocol):
    def token(self, nbytes: int) -> str:
        """A URL-safe random string carrying ``nbytes`` of entropy."""
        ...

    def alphanumeric(self, length: int) -> str:
        """A random string of ``length`` letters and digits."""
        ...
