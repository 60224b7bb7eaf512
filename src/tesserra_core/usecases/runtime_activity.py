"""Proxied traffic is activity: it resets a sandbox's idle clock, but the database is written at most
once per ``INTERVAL`` seconds per sandbox (a quarter of its idle timeout when that is shorter), and
off the request's path (a background task, through the lifecycle's keepalive and its lock)."""

from __future__ import annotations

import asyncio
import logging

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
        self._open: dict[str, int] = {}
        """Blocks (``during``) open per sandbox."""
        self._beats: dict[str, asyncio.TimerHandle] = {}
        """The timer of each sandbox with blocks open (or that had some until its last beat)."""

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

    def during(self, target: ProxyTarget) -> _During:
        """Activity at the start and, for as long as the block lasts (a stream, a WebSocket), every
        interval. One timer per sandbox with blocks open, not one per block: most requests end long
        before it fires, and many run at once."""
        return _During(self, target)

    def _enter(self, target: ProxyTarget) -> None:
        self.touch(target)
        sandbox_id = target.sandbox_id
        self._open[sandbox_id] = self._open.get(sandbox_id, 0) + 1
        if sandbox_id not in self._beats:
            self._beats[sandbox_id] = asyncio.get_running_loop().call_later(interval_for(target), self._beat, target)

    def _leave(self, target: ProxyTarget) -> None:
        left = self._open[target.sandbox_id] - 1
        if left:
            self._open[target.sandbox_id] = left
        else:
            del self._open[target.sandbox_id]  # its timer, if any, stops when it next fires

    def _beat(self, target: ProxyTarget) -> None:
        sandbox_id = target.sandbox_id
        if sandbox_id not in self._open:
            del self._beats[sandbox_id]
            return
        self.touch(target)
        self._beats[sandbox_id] = asyncio.get_running_loop().call_later(interval_for(target), self._beat, target)

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
        for beat in self._beats.values():
            beat.cancel()
        self._beats.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _During:
    __slots__ = ("activity", "target")

    def __init__(self, activity: ProxyActivity, target: ProxyTarget) -> None:
        self.activity = activity
        self.target = target

    def __enter__(self) -> None:
        self.activity._enter(self.target)

    def __exit__(self, *_: object) -> None:
        self.activity._leave(self.target)
