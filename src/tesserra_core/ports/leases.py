"""Leases that let one process of a cluster run a background loop: a named lease has one holder at a
time, until it stops renewing it (``ttl`` seconds) or lets it go."""

from __future__ import annotations

from typing import Protocol

import msgspec


class RunnerLease(msgspec.Struct, frozen=True, kw_only=True):
    """A lease as stored: who holds it until when (epoch seconds), and its holder's last round."""

    name: str
    holder: str | None
    expires_at: float
    last_run_at: float | None = None
    last_error: str | None = None


class RunnerLeases(Protocol):
    async def claim(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease if it is free or expired, or renew it if ``holder`` has it: True if
        ``holder`` now holds it for ``ttl`` seconds. Atomic: two claimants never both win."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Let it go at once (a drain hands it over), if ``holder`` has it."""
        ...

    async def record(self, name: str, holder: str, error: str | None) -> None:
        """The holder's round just ended, with ``error`` if it failed."""
        ...

    async def all(self) -> list[RunnerLease]:
        """Every lease ever claimed, by name."""
        ...


class SoleLeases:
    """One process and nobody to share with: every claim wins, nothing is kept (the default of ports
    that do not say otherwise)."""

    async def claim(self, name: str, holder: str, ttl: float) -> bool:
        return True

    async def release(self, name: str, holder: str) -> None:
        return None

    async def record(self, name: str, holder: str, error: str | None) -> None:
        return None

    async def all(self) -> list[RunnerLease]:
        return []
