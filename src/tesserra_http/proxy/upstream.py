"""The proxy's HTTP/1.1 client toward sandboxes: keep-alive connections per sandbox address (each a
``connection.Connection``), the request's head and body sent, the response's head awaited.

A connection goes back to the pool only after an exchange that ended cleanly: the whole request sent,
the whole response read, and the sandbox willing to keep it (HTTP/1.1 keep-alive, no
``Connection: close``). Anything else (an error, a cancel, a response to HEAD, a body read until the
close, bytes the sandbox sends while no request is open) closes it. A request without a body sent on
a reused connection that the sandbox closed before answering (its keep-alive timer and the request
crossed) is sent once more on a new connection; nothing else is retried.

WebSocket upgrades do not come here (``websocket.relay``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from tesserra_http.proxy.connection import Connection, UpstreamBroke
from tesserra_http.proxy.later import Later

MAX_IDLE_PER_ADDRESS = 64
CONNECT_TIMEOUT = 5.0
KEEPALIVE = 30.0
"""Seconds an idle connection is kept."""
WATCH_AFTER = 0.2
"""Seconds into an exchange after which the client's going away is watched for (a task of its own,
``forward``): most exchanges end sooner, and need none."""


class UpstreamPool:
    """Idle keep-alive connections by sandbox address (host, port), most recently used first. Made in
    the event loop it serves (``loop``)."""

    def __init__(self, *, keepalive: float = KEEPALIVE, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.loop = asyncio.get_running_loop()
        """Held, not asked for: on Python 3.11 ``asyncio.get_running_loop()`` (and ``current_task()``,
        ``create_task()`` without a loop) make a getpid() system call each: three per proxied request were a
        sixth of the proxy loop's samples in a profile, where system calls are dear."""
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False
        self.later = Later(WATCH_AFTER, self.loop)
        """When the exchanges through this pool start watching for their client's going (``forward``)."""

    async def request(
        self, host: str, port: int, head: bytes, body: AsyncIterator[list[bytes]] | None, *, head_only: bool = False
    ) -> tuple[Connection, asyncio.Task[None] | None]:
        """Sends the request (its body, if any, from a task of its own, so that an early answer is
        read while it goes) and waits for the response's head. Answers the connection and that task;
        ``done`` hands both back. Raises ``OSError`` (``UpstreamBroke`` among them) or ``TimeoutError``
        when the sandbox cannot be reached or closes before answering."""
        key = (host, port)
        while True:
            conn = self.idle(host, port)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(key)
            sender = None
            try:
                conn.begin(head, head_only)
                if body is not None:
                    sender = self.loop.create_task(_send_body(conn, body))
                await conn.head()
                return conn, sender
            except UpstreamBroke:
                conn.abort()
                _drop(sender)
                if reused and body is None and not conn.any_byte:
                    continue  # the sandbox closed an idle connection as the request went out: once more, anew
                raise
            except BaseException:
                conn.abort()
                _drop(sender)
                raise

    def done(self, conn: Connection, sender: asyncio.Task[None] | None, *, whole: bool) -> None:
        """The exchange is over: ``whole`` if the response was read to its end. The connection is kept
        only if the request went out whole too and both sides may go on."""
        if sender is not None and not sender.done():
            sender.cancel()
            whole = False
        elif sender is not None and (sender.cancelled() or sender.exception() is not None):
            whole = False
        if not (whole and conn.keep_alive and conn.drained) or conn.closed or self._closed:
            conn.abort()
            return
        conn._reset()
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(conn.key, [])
        idle.append(conn)
        if len(idle) > MAX_IDLE_PER_ADDRESS:
            idle.pop(0).abort()
        if self._sweep is None:
            self._sweep = self.loop.call_later(self.keepalive, self._expire)

    def forget(self, conn: Connection) -> None:
        """A connection that closed: no longer offered."""
        idle = self._idle.get(conn.key)
        if idle is not None and conn in idle:
            idle.remove(conn)

    def idle(self, host: str, port: int) -> Connection | None:
        """A kept-alive connection to the address, taken out of the pool (``done`` hands it back)."""
        idle = self._idle.get((host, port))
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self, key: tuple[str, int]) -> Connection:
        async with asyncio.timeout(self.connect_timeout):
            _, conn = await self.loop.create_connection(lambda: Connection(self, key), key[0], key[1])
        return conn

    def _expire(self) -> None:
        self._sweep = None
        oldest = time.monotonic() - self.keepalive
        for key, idle in list(self._idle.items()):
            for conn in [c for c in idle if c.idle_since <= oldest]:
                idle.remove(conn)
                conn.abort()
            if not idle:
                del self._idle[key]
        if self._idle:
            self._sweep = self.loop.call_later(self.keepalive / 2, self._expire)

    def close(self) -> None:
        self._closed = True
        self.later.close()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()


def _drop(sender: asyncio.Task[None] | None) -> None:
    """Cancels the body's sender, or takes its failure (the request's own failure is what is raised)."""
    if sender is None:
        return
    if not sender.done():
        sender.cancel()
    elif not sender.cancelled():
        sender.exception()


async def _send_body(conn: Connection, body: AsyncIterator[list[bytes]]) -> None:
    try:
        async for data in body:
            await conn.write(data)
    except BaseException:
        conn.abort()  # the request cannot be finished: the sandbox must not take a part for the whole
        raise
