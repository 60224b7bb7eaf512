"""Where file bytes live: a local directory by default, memory in tests, an object store later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class StoredObjectWriter(Protocol):
    """One object being written. Nothing is visible under its key until ``commit``."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> None:
        """Publish the object under its key (atomically: whole or not at all)."""
        ...

    async def abort(self) -> None:
        """Throw away what was written. Safe to call after ``commit`` failed, or twice."""
        ...


class FileStorage(Protocol):
    max_object_bytes: int
    """The largest object one upload may store."""

    async def writer(self, key: str) -> StoredObjectWriter:
        """Start writing the object ``key`` (a platform-made path of ids, ``a/b/c``)."""
        ...

    def read(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """The object's bytes in chunks. Raises ``NotFound`` if there is no such object."""
        ...

    async def delete(self, key: str) -> bool:
        """True if it existed."""
        ...

    async def exists(self, key: str) -> bool: ...
