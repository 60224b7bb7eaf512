"""A push from the store when the revocation feed grew, so that each worker's watcher need not poll it
often (PostgreSQL: LISTEN/NOTIFY). Without one (SQLite, memory) the watcher polls as it always did."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol


class FeedPush(Protocol):
    @property
    def live(self) -> bool:
        """A push can arrive now (its connection is up): the watcher may poll rarely."""
        ...

    def watching(self, wake: asyncio.Event) -> contextlib.AbstractAsyncContextManager[None]:
        """For the life of the block, ``wake`` is set when the feed grew, and when ``live`` changes
        (connected, then the watcher polls at once to catch up; lost, then it polls often again).
        The connection is kept up (opened again when lost) until the block ends."""
        ...


class NoPush:
    """Nothing pushes: the watcher polls at its own pace."""

    live = False

    @contextlib.asynccontextmanager
    async def watching(self, wake: asyncio.Event) -> AsyncIterator[None]:
        yield
