"""A graceful drain on SIGTERM: readiness first, then accepting stops, then in-flight work finishes."""

from __future__ import annotations

import asyncio
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
    stops at once."""

    def __init__(self, config: uvicorn.Config, readiness: Readiness, delay: float) -> None:
        super().__init__(config)
        self.readiness = readiness
        self.delay = delay
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

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
