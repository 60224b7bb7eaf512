"""A graceful drain on SIGTERM: readiness first, then accepting stops, then in-flight work finishes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from types import FrameType

import uvicorn

from tesserra_http.readiness import Readiness

log = logging.getLogger("tesserra")


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but the first SIGTERM drains: /ready answers 503 at once and the server stops
    accepting ``delay`` seconds later, so that a load balancer's health check sees it first; then
    uvicorn's graceful shutdown lets in-flight requests and streams finish (up to the config's
    ``timeout_graceful_shutdown``) and the lifespan stops the runners. SIGINT, or a second SIGTERM,
    stops at once.

    uvicorn's main loop wakes ten times a second to see whether it should exit (and once a second of
    those, to renew the Date header); here it wakes once a second, and at once when told to exit
    (``should_exit`` set, from a signal handler or the drain)."""

    def __init__(
        self, config: uvicorn.Config, readiness: Readiness, delay: float, early: list[int] | None = None
    ) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._exiting: asyncio.Event | None = None
        super().__init__(config)
        self.readiness = readiness
        self.delay = delay
        self.early = early if early is not None else []

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self.loop is not None and self._exiting is not None:
            # a signal handler may touch the loop only through its thread-safe entry
            self.loop.call_soon_threadsafe(self._exiting.set)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self._exiting = asyncio.Event()
        if self._should_exit:
            self._exiting.set()
        await super().serve(sockets=sockets)

    async def main_loop(self) -> None:
        """uvicorn's, a tick a second (``on_tick`` renews the Date header when its counter is a
        multiple of 10), cut short when ``should_exit`` is set."""
        assert self._exiting is not None
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exiting.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start, then act on the signals that came while the worker was still starting (``early``:
        before uvicorn's handlers were in place), so that a SIGTERM sent then drains it too."""
        await super().startup(sockets=sockets)
        for sig in self.early:
            self.handle_exit(sig, None)
        self.early.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.readiness.draining and self.loop is not None:
            self.readiness.drain()
            # A signal handler may touch the loop only through its thread-safe entry.
            self.loop.call_soon_threadsafe(self._drain)
            return
        super().handle_exit(sig, frame)

    def _drain(self) -> None:
        log.info("draining: /ready answers 503; accepting stops in %g s", self.delay)
        assert self.loop is not None
        self.loop.call_later(self.delay, self._stop_accepting)

    def _stop_accepting(self) -> None:
        self.should_exit = True
