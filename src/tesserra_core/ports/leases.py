"""Leases that let one process of a cluster run a background loop: a named lease has one holder at a
time, until it stops renewing it (``ttl`` seconds) or lets it go.

Each takeover (a holder other than the last one, or the same one after letting go) increments the
lease's ``generation``: the fencing token. The work a holder does under a lease runs with a ``Fence``
(``FENCE``, a context variable set by the runner): a unit of work that commits under one checks, in its
own transaction, that the lease still has that holder and generation, so a holder that stalled past its
lease and was replaced cannot commit after its successor took over; and the runner checks the fence's
local deadline (the last renewal plus the ttl, less a margin) before each side effect it cannot fence
in the database (removing a workload)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from tesserra_core.errors import Conflict


class NodeBeat(msgspec.Struct, frozen=True):
    """A node's heartbeat, as ``Nodes.beat`` records it: carried by a lease claim (``claim_all``)."""

    node_id: str
    name: str
    started_at: float


class RunnerLease(msgspec.Struct, frozen=True, kw_only=True):
    """A lease as stored: who holds it until when (epoch seconds), its generation (incremented on each
    takeover), and its holder's last round."""

    name: str
    holder: str | None
    expires_at: float
    generation: int = 0
    last_run_at: float | None = None
    last_error: str | None = None


class LeaseLost(Conflict):
    """The work of a lease's holder went on after the lease was lost (expired or taken over)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the runner lease {name!r} was lost; the round stops", code="lease_lost")


@dataclass(slots=True)
class Fence:
    """A holder's token for one generation of a lease, valid until ``deadline`` (``time.monotonic``)
    unless renewed; ``lost`` once a renewal was refused."""

    name: str
    holder: str
    generation: int
    deadline: float
    lost: bool = field(default=False)

    def valid(self) -> bool:
        return not self.lost and time.monotonic() < self.deadline

    def check(self) -> None:
        """Raise ``LeaseLost`` unless the lease is (as far as this process knows) still held."""
        if not self.valid():
            raise LeaseLost(self.name)


FENCE: ContextVar[Fence | None] = ContextVar("tesserra_runner_fence", default=None)
"""The fence of the leased round running in this context (None outside any)."""


def still_held() -> None:
    """Raise ``LeaseLost`` if the leased round running here lost its lease (a no-op outside one)."""
    fence = FENCE.get()
    if fence is not None:
        fence.check()


class RunnerLeases(Protocol):
    carries_beats: bool
    """Whether ``claim_all`` writes a ``beat`` given to it (a store that also keeps the nodes' rows):
    then a process's heartbeat rides on its lease claims, one transaction a tick for both."""

    async def claim(self, name: str, holder: str, ttl: float) -> int | None:
        """Take the lease if it is free or expired, or renew it if ``holder`` has it: the lease's
        generation if ``holder`` now holds it for ``ttl`` seconds (a takeover increments it, a renewal
        keeps it), else None. Atomic: two claimants never both win."""
        ...

    async def claim_all(
        self,
        holder: str,
        ttl: float,
        names: Sequence[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None = None,
    ) -> dict[str, int]:
        """``claim`` of each of ``names`` (the leased loops of one process), in one statement: the
        generation of each lease ``holder`` now holds (the others are left out). ``ran``: the leases
        whose holder's round ended since its last claim, with its error or None, recorded as ``record``
        would (``last_run_at`` the claim's time) where ``holder`` holds them. Claimants name their
        leases in the same (sorted) order, so two never wait on each other's rows. ``beat`` (given only
        where ``carries_beats``): the node's heartbeat, written in the same transaction as
        ``Nodes.beat`` would write it (``names`` may then be empty: the beat alone)."""
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

    carries_beats = False

    async def claim(self, name: str, holder: str, ttl: float) -> int | None:
        return 1

    async def claim_all(
        self,
        holder: str,
        ttl: float,
        names: Sequence[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None = None,
    ) -> dict[str, int]:
        return dict.fromkeys(names, 1)

    async def release(self, name: str, holder: str) -> None:
        return None

    async def record(self, name: str, holder: str, error: str | None) -> None:
        return None

    async def all(self) -> list[RunnerLease]:
        return []
