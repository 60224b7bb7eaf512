"""Billing retries: stored provider events whose retry time has come are processed again, in the
background of every server, so that no stored event is ever lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.billing_events import ProcessEvent

log = logging.getLogger("tesserra.billing")


@dataclass
class RetryEvents:
    """Processes stored events whose retry time has come; ``running()`` does it in the background."""

    uow: UnitOfWorkFactory
    process: ProcessEvent
    clock: Clock
    interval: float = 5.0
    batch: int = 100

    async def __call__(self) -> int:
        async with self.uow(read_only=True) as uow:
            due = await uow.billing_events.due(self.clock.now(), self.batch)
        done = 0
        for event_id in due:
            done += await self.process(event_id)
        return done

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(self._loop(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self()
            except Exception:  # a failing round is logged and retried, never fatal
                log.exception("billing retry round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
