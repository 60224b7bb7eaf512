"""Proxied traffic is activity: it resets a sandbox's idle clock, but the database is written at most
once per ``INTERVAL`` seconds per sandbox (a quarter of its idle timeout when that is shorter), and
off the request's path (a background task, through the lifecycle's keepalive and its lock)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from tesserra_core.domain.sandboxes import SandboxAction
from tesserra_core.errors import TesserraError
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle

log = logging.getLogger("tesserra.sandboxes")

INTERVAL = 5.0
MAX_TRACKED = 10_000


def interval_for(target: ProxyTarget) -> float:
    idle = target.idle_timeout_seconds
    return INTERVAL if idle is None else max(0.25, min(INTERVAL, idle / 4))


class ProxyActivity:
    def __init__(self, lifecycle: SandboxLifecycle, clock: Clock) -> None:
        self.lifecycle = lifecycle
        self.clock = clock
        self._last: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def touch(self, target: ProxyTarget) -> None:
        """Count activity now; written later (in the background) unless written within the interval."""
        now = self.clock.monotonic()
        last = self._last.get(target.sandbox_id)
        if last is not None and now - last < interval_for(target):
            return
        if len(self._last) >= MAX_TRACKED:
            self._forget(now)
        self._last[target.sandbox_id] = now
        task = asyncio.create_task(self._keepalive(target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def during(self, target: ProxyTarget) -> AsyncIterator[None]:
        """Activity at the start and, for as long as the block lasts (a stream, a WebSocket), every
        interval: a timer rather than a task, since most requests end long before it fires."""
        loop = asyncio.get_running_loop()
        every = interval_for(target)
        timer: asyncio.TimerHandle | None = None

        def beat() -> None:
            nonlocal timer
            self.touch(target)
            timer = loop.call_later(every, beat)

        beat()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()

    async def _keepalive(self, target: ProxyTarget) -> None:
        try:
            await self.lifecycle.act(target.tenant_id, target.sandbox_id, SandboxAction.KEEPALIVE)
        except TesserraError as exc:  # paused or stopped meanwhile: nothing to keep alive
            log.debug("proxy activity on sandbox %s not recorded: %s", target.sandbox_id, exc.message)

    def _forget(self, now: float) -> None:
        for key, at in list(self._last.items()):
            if now - at >= INTERVAL:
                del self._last[key]
        if len(self._last) >= MAX_TRACKED:
            self._last.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
