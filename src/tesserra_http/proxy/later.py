"""Callbacks due a short while later, most of them withdrawn before: one timer for all of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Later:
    """Calls each callback added ``delay`` to 1.5 × ``delay`` seconds later, unless it was discarded
    first. A timer per callback cost a timer handle made and cancelled on every proxied request, nearly
    all of which end sooner; this one ticks every half ``delay`` while any callback waits."""

    __slots__ = ("_due", "_timer", "delay", "loop")

    def __init__(self, delay: float, loop: asyncio.AbstractEventLoop) -> None:
        self.delay = delay
        self.loop = loop
        self._due: dict[Callable[[], None], float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, callback: Callable[[], None]) -> None:
        self._due[callback] = time.monotonic() + self.delay
        if self._timer is None:
            self._timer = self.loop.call_later(self.delay / 2, self._tick)

    def discard(self, callback: Callable[[], None]) -> None:
        self._due.pop(callback, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()

    def _tick(self) -> None:
        self._timer = None
        now = time.monotonic()
        for callback in [callback for callback, at in self._due.items() if at <= now]:
            del self._due[callback]
            callback()
        if self._due:
            self._timer = self.loop.call_later(self.delay / 2, self._tick)
