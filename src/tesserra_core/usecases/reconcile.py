"""Reconciliation: make what runs match what should run, for one kind of owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass

import msgspec

from tesserra_core.ports.runtime import ContainerRuntime


class Reconciled(msgspec.Struct, frozen=True, kw_only=True):
    removed: tuple[str, ...]
    """Ids of the workloads removed because their owner is not live."""
    missing: frozenset[str]
    """Live owners with no workload at all (the caller marks them failed, or starts them again)."""


@dataclass(frozen=True, slots=True)
class ReconcileWorkloads:
    """Removes the workloads under ``owner_prefix`` whose owner is not live (strays left by a crash or
    a deletion that did not finish), and reports the live owners that have no workload.

    ``live_owners`` should name the owners that ought to have a workload by now (not one still being
    created). It is read after listing the workloads, so an owner created meanwhile is never taken
    for a stray; and the workloads are listed again before calling an owner missing, so one whose
    workload started meanwhile is not reported either. Only whose each workload is matters: both
    listings are the runtime's ``statuses`` (on Docker one call, where ``list`` inspects each container)."""

    runtime: ContainerRuntime

    async def __call__(self, owner_prefix: str, live_owners: Callable[[], Awaitable[Set[str]]]) -> Reconciled:
        workloads = await self.runtime.statuses(owner_prefix)
        live = {owner for owner in await live_owners() if owner.startswith(owner_prefix)}
        removed = []
        for workload_id, workload in workloads.items():
            if workload.owner not in live:
                await self.runtime.remove(workload_id)
                removed.append(workload_id)
        present = {s.owner for s in (await self.runtime.statuses(owner_prefix)).values()} if live else set()
        return Reconciled(removed=tuple(removed), missing=frozenset(live - present))
