"""Open proxied connections (a streaming response, a WebSocket) end when what let them in ends: a
revocation of their token (by its id, or all of the sandbox's), or the sandbox stopping, being
deleted, failing or getting a new workload (its generation moves on). Every check against the stored
sandbox is made when a request comes in; this keeps checking while the connection stays open.

One poller per sandbox with open connections, in each worker, reads the sandbox every ``EVERY``
seconds through the reads the proxy's checks share (``SandboxReads``: at most ``FRESH`` old, a change
this worker made seen at once; the database is the only place a revocation made by any worker shows),
and calls the ``cut`` of each connection that must end (the driver's, which cuts it). A poller stops
once its sandbox has no open connection left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tesserra_core.domain.sandboxes import Sandbox, SandboxState
from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_core.usecases.sandbox_reads import SandboxReads

log = logging.getLogger("tesserra.proxy")

EVERY = 0.5
"""Seconds between two reads of a sandbox with open connections: a revocation made on this worker cuts
them within about this, one made on another within about this and ``FRESH`` (1 s, under the 2 s promised)."""
_LIVE = frozenset({SandboxState.RUNNING, SandboxState.PAUSING, SandboxState.PAUSED, SandboxState.STARTING})
"""States in which an open connection may go on (a paused sandbox's connections wait for it)."""


def ended(target: ProxyTarget, sandbox: Sandbox | None) -> str | None:
    """Why a connection let in as ``target`` must end now that the sandbox is ``sandbox``; None if not."""
    if sandbox is None or sandbox.generation != target.generation or sandbox.state not in _LIVE:
        return "the sandbox stopped or was replaced"
    if target.token_id is not None and (sandbox.proxy_epoch != target.epoch or sandbox.revoked(target.token_id)):
        return "the proxy token was revoked"
    return None


class ProxyWatch:
    def __init__(self, reads: SandboxReads) -> None:
        self.reads = reads
        self._open: dict[str, dict[int, Watched]] = {}
        self._pollers: dict[str, asyncio.Task[None]] = {}

    def watching(self, target: ProxyTarget, cut: Callable[[], None]) -> Watched:
        """For as long as the block lasts, ``cut`` is called (once, from the poller) when the connection
        opened as ``target`` must end. A callback rather than a future: nothing is made per request
        but this handle."""
        return Watched(self, target, cut)

    def _enter(self, watched: Watched) -> None:
        sandbox_id = watched.target.sandbox_id
        connections = self._open.get(sandbox_id)
        if connections is None:
            connections = self._open[sandbox_id] = {}
        connections[id(watched)] = watched
        if sandbox_id not in self._pollers:
            self._pollers[sandbox_id] = asyncio.create_task(self._poll(watched.target.tenant_id, sandbox_id))

    def _leave(self, watched: Watched) -> None:
        sandbox_id = watched.target.sandbox_id
        connections = self._open.get(sandbox_id)
        if connections is not None:
            connections.pop(id(watched), None)
            if not connections:
                del self._open[sandbox_id]

    def open_connections(self, sandbox_id: str) -> int:
        """How many of the sandbox's proxied connections this worker holds open now."""
        return len(self._open.get(sandbox_id, {}))

    async def _poll(self, tenant_id: str, sandbox_id: str) -> None:
        """Between the check for open connections and this poller leaving the table there is no await,
        so a connection opened meanwhile either is seen or starts a poller of its own."""
        try:
            while True:
                await asyncio.sleep(EVERY)
                if not self._open.get(sandbox_id):
                    return
                try:
                    sandbox = await self.reads.get(tenant_id, sandbox_id)
                except Exception as exc:  # the database away for a moment: check again next time
                    log.warning("watching proxied connections of sandbox %s: %r", sandbox_id, exc)
                    continue
                for watched in list(self._open.get(sandbox_id, {}).values()):
                    if not watched.ended and ended(watched.target, sandbox) is not None:
                        watched.ended = True
                        watched.cut()
        finally:
            if self._pollers.get(sandbox_id) is asyncio.current_task():
                del self._pollers[sandbox_id]

    async def aclose(self) -> None:
        pollers = list(self._pollers.values())
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)


class Watched:
    """One open connection under watch (``with``: watched for as long as the block lasts)."""

    __slots__ = ("cut", "ended", "target", "watch")

    def __init__(self, watch: ProxyWatch, target: ProxyTarget, cut: Callable[[], None]) -> None:
        self.watch = watch
        self.target = target
        self.cut = cut
        self.ended = False

    def __enter__(self) -> Watched:
        self.watch._enter(self)
        return self

    def __exit__(self, *_: object) -> None:
        self.watch._leave(self)
