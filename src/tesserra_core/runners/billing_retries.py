"""Billing retries: stored provider events whose retry time has come are processed again, in the
background of one process of the cluster (the holder of lease ``billing-retries``), so that no stored
event is ever lost."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.runners.leased import LeaseTerms, leased_rounds
from tesserra_core.usecases.billing_events import ProcessEvent

LEASE = "billing-retries"


@dataclass
class RetryEvents:
    """Processes stored events whose retry time has come; ``running()`` does it in the background."""

    uow: UnitOfWorkFactory
    process: ProcessEvent
    clock: Clock
    interval: float = 5.0
    batch: int = 100
    lease: LeaseTerms = field(default_factory=LeaseTerms)

    async def __call__(self) -> int:
        async with self.uow(read_only=True) as uow:
            due = await uow.billing_events.due(self.clock.now(), self.batch)
        done = 0
        for event_id in due:
            done += await self.process(event_id)
        return done

    def running(self) -> AbstractAsyncContextManager[None]:
        return leased_rounds(LEASE, self, self.interval, self.lease, "billing retry round failed")
