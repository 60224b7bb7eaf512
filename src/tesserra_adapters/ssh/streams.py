"""Reading an output stream with memory bounded: keep the first bytes up to a cap, hash and count all."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from tesserra_core.ports.ssh import Stream

CHUNK = 65536


class CappedStream:
    """What has been read of one stream so far: its head (up to ``cap`` bytes), size and SHA-256."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._head = bytearray()
        self._size = 0
        self._hash = hashlib.sha256()

    def feed(self, data: bytes) -> None:
        self._size += len(data)
        self._hash.update(data)
        room = self._cap - len(self._head)
        if room > 0:
            self._head += data[:room]

    async def drain(self, read: Callable[[int], Awaitable[bytes]]) -> None:
        """Read until end of stream."""
        while data := await read(CHUNK):
            self.feed(data)

    def result(self) -> Stream:
        return Stream(head=bytes(self._head), size=self._size, sha256=self._hash.hexdigest())
