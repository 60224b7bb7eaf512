"""The background loop two runners share: a round now, then one every few seconds, until the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


@asynccontextmanager
async def rounds(
    one_round: Callable[[], Awaitable[object]], interval: float, log: logging.Logger, failed: str
) -> AsyncIterator[None]:
    """Runs ``one_round`` now and ``interval`` seconds after each round, for the life of the block. A
    failing round is logged (``failed``) and never fatal: the next one runs all the same. On exit the
    loop is asked to stop, never cancelled mid-round (which would strand a pooled connection)."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await one_round()
            except Exception:
                log.exception(failed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await task
