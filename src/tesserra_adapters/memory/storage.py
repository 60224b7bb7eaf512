"""File storage in memory, for tests: the same contract as the local directory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tesserra_adapters.storage import DEFAULT_MAX_OBJECT, check_key
from tesserra_core.errors import NotFound


class _MemoryWriter:
    def __init__(self, storage: MemoryFileStorage, key: str) -> None:
        self._storage = storage
        self._key = key
        self._chunks: list[bytes] = []
        self._done = False

    async def write(self, chunk: bytes) -> None:
        self._chunks.append(bytes(chunk))

    async def commit(self) -> None:
        self._storage.objects[self._key] = b"".join(self._chunks)
        self._storage.partial.discard(id(self))
        self._done = True

    async def abort(self) -> None:
        self._chunks.clear()
        self._storage.partial.discard(id(self))
        self._done = True


class MemoryFileStorage:
    def __init__(self, max_object_bytes: int = DEFAULT_MAX_OBJECT) -> None:
        self.max_object_bytes = max_object_bytes
        self.objects: dict[str, bytes] = {}
        self.partial: set[int] = set()
        """Writers started and neither committed nor aborted (a test checks none is left behind)."""

    async def writer(self, key: str) -> _MemoryWriter:
        writer = _MemoryWriter(self, check_key(key))
        self.partial.add(id(writer))
        return writer

    async def read(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        data = self.objects.get(check_key(key))
        if data is None:
            raise NotFound("no such file", code="file_not_found")
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def delete(self, key: str) -> bool:
        return self.objects.pop(check_key(key), None) is not None

    async def exists(self, key: str) -> bool:
        return check_key(key) in self.objects

    async def purge_abandoned(self, older_than: float) -> int:
        return 0  # an unfinished writer lives no longer than its process, and the objects with it
