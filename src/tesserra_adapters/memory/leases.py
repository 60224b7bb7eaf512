"""Runner leases in process (tests; one process has nobody to share with)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import msgspec

from tesserra_core.ports.leases import NodeBeat, RunnerLease


class MemoryRunnerLeases:
    carries_beats = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._leases: dict[str, RunnerLease] = {}

    async def claim(self, name: str, holder: str, ttl: float) -> int | None:
        now = self._clock()
        lease = self._leases.get(name)
        if lease is not None and lease.holder not in (None, holder) and lease.expires_at > now:
            return None
        if lease is None:
            lease = RunnerLease(name=name, holder=None, expires_at=now + ttl)
        generation = lease.generation if lease.holder == holder else lease.generation + 1
        self._leases[name] = msgspec.structs.replace(lease, holder=holder, expires_at=now + ttl, generation=generation)
        return generation

    async def claim_all(
        self,
        holder: str,
        ttl: float,
        names: Sequence[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None = None,
    ) -> dict[str, int]:
        held = {}
        for name in names:
            generation = await self.claim(name, holder, ttl)
            if generation is not None:
                held[name] = generation
                if name in ran:
                    await self.record(name, holder, ran[name])
        return held

    def holds(self, name: str, holder: str, generation: int) -> bool:
        """The lease still has this holder and generation (the fence a unit of work checks)."""
        lease = self._leases.get(name)
        return lease is not None and (lease.holder, lease.generation) == (holder, generation)

    async def release(self, name: str, holder: str) -> None:
        lease = self._leases.get(name)
        if lease is not None and lease.holder == holder:
            self._leases[name] = msgspec.structs.replace(lease, holder=None, expires_at=self._clock())

    async def record(self, name: str, holder: str, error: str | None) -> None:
        lease = self._leases.get(name)
        if lease is not None and lease.holder == holder:
            self._leases[name] = msgspec.structs.replace(lease, last_run_at=self._clock(), last_error=error)

    async def all(self) -> list[RunnerLease]:
        return [self._leases[name] for name in sorted(self._leases)]
