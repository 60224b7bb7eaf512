"""The revocation feed's push on PostgreSQL: a publisher NOTIFYs ``CHANNEL`` in the transaction that
adds to the feed (delivered at its commit, to every listening connection), and each worker LISTENs on
a connection of its own, outside the pool, kept up for its life."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger("tesserra.credentials")

CHANNEL = "tesserra_revocations"
RECONNECT_EVERY = 2.0
"""Seconds between attempts to open the listening connection again (the watcher polls often meanwhile)."""


async def notify(conn: AsyncConnection) -> None:
    """In the transaction adding to the feed: tell every listener at its commit (not at all if it rolls back)."""
    await conn.execute(select(func.pg_notify(CHANNEL, "")))


class PgFeedPush:
    def __init__(self, url: URL) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = None

    @property
    def live(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @contextlib.asynccontextmanager
    async def watching(self, wake: asyncio.Event) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(self._keep(wake, stop), name="revocation feed push")
        try:
            yield
        finally:
            stop.set()
            await task

    async def _keep(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._listen(wake, stop)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listening for revocations failed (polling meanwhile): %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECONNECT_EVERY)

    async def _listen(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """One listening connection, until it is lost or ``stop`` is set."""
        lost = asyncio.Event()
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(CHANNEL, lambda *_: wake.set())
            conn.add_termination_listener(lambda _: lost.set())
            self._conn = conn
            wake.set()  # live now: one poll catches what was published before the LISTEN
            await _first(stop, lost)
        finally:
            self._conn = None
            wake.set()  # not live: poll often again
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
