"""Pause and resume, the same two calls on every runtime: each runtime writes only how it freezes."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tesserra_core.ports.runtime import Workload


class Freezing(ABC):
    async def pause(self, workload_id: str) -> Workload:
        return await self._freeze(workload_id, paused=True)

    async def resume(self, workload_id: str) -> Workload:
        return await self._freeze(workload_id, paused=False)

    @abstractmethod
    async def _freeze(self, workload_id: str, *, paused: bool) -> Workload:
        """Freeze (or thaw) the running workload, a no-op when it already is so; Conflict when it is not
        running."""
