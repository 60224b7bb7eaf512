"""One read per interval for the live streams that show the same thing to the same viewer.

Each live stream reads what it shows every ``LiveLimits.every`` seconds; several tabs watching the same
project would each read the same rows every second. Streams of one key (the stream's URL and the viewer)
share a read instead: the first that wants one after the last is ``fresh_for`` seconds old starts it, the
others take its result (or its error). What a stream shows is then at most ``fresh_for`` seconds old, as when
it read on its own. Keys are per viewer, so no one is shown what another principal read; the sharing is per
process (each worker reads for its own streams)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Fragments = dict[str, str]
Read = Callable[[], Awaitable[Fragments]]
Reader = Callable[[Read, float], Coroutine[Any, Any, Fragments]]
"""A stream's way to read: ``await reader(snapshot, fresh_for)``, shared with the streams of its key."""


@dataclass(slots=True)
class _Shared:
    watchers: int = 0
    read: asyncio.Future[Fragments] | None = None
    started: float = field(default=float("-inf"))


def _retrieve(read: asyncio.Future[Fragments]) -> None:
    """A read's error is taken even when every stream that wanted it has gone (no "never retrieved" log)."""
    if not read.cancelled():
        read.exception()


class SharedReads:
    """The reads in flight or fresh, per key, for as long as a stream of that key is open."""

    def __init__(self) -> None:
        self._by_key: dict[Hashable, _Shared] = {}

    @contextmanager
    def watching(self, key: Hashable) -> Iterator[Reader]:
        """A stream of ``key`` is open: its reads (through the reader given) are shared with the others of
        that key until it ends."""
        shared = self._by_key.setdefault(key, _Shared())
        shared.watchers += 1

        async def reader(snapshot: Read, fresh_for: float) -> Fragments:
            return await self.read(key, snapshot, fresh_for)

        try:
            yield reader
        finally:
            shared.watchers -= 1
            if shared.watchers == 0:
                del self._by_key[key]

    async def read(self, key: Hashable, snapshot: Read, fresh_for: float) -> Fragments:
        """The last read of ``key`` if it started less than ``fresh_for`` seconds ago (or is still running),
        else a new one. A stream that ends while it waits does not cancel the read the others wait for."""
        shared = self._by_key.get(key)
        if shared is None:
            return await snapshot()
        now = asyncio.get_running_loop().time()
        if shared.read is None or (shared.read.done() and now - shared.started >= fresh_for):
            shared.read, shared.started = asyncio.ensure_future(snapshot()), now
            shared.read.add_done_callback(_retrieve)
        return await asyncio.shield(shared.read)

    def __len__(self) -> int:
        return len(self._by_key)
