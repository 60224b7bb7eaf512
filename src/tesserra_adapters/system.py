"""Real clock, time-ordered ids and cryptographic randomness."""

from __future__ import annotations

import os
import secrets
import string
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_ALNUM = string.ascii_letters + string.digits


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class UlidFactory:
    """26-character, lowercase Crockford base32 ULIDs: 48 bits of milliseconds, 80 random bits.

    Monotonic within a process: ids made in the same millisecond increase (the random part is
    incremented), so they sort in creation order, which keeps B-tree inserts local and
    ``ORDER BY id`` meaningful.
    """

    def __init__(self) -> None:
        self._last = 0

    def new(self) -> str:
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        if value <= self._last:
            value = self._last + 1
        self._last = value
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(chars))


class SystemSecrets:
    def token(self, nbytes: int) -> str:
        return secrets.token_urlsafe(nbytes)

    def alphanumeric(self, length: int) -> str:
        return "".join(secrets.choice(_ALNUM) for _ in range(length))
