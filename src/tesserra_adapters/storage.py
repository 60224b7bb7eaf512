"""File storage in a local directory: objects land under their key only once complete."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from tesserra_core.errors import NotFound, Unavailable

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,7}$")
DEFAULT_MAX_OBJECT = 2 * 1024**3


def check_key(key: str) -> str:
    """Keys are made by the platform from ids; anything else is a bug, never a path to follow."""
    if not _KEY.match(key):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class _LocalWriter:
    def __init__(self, final: Path, partial: Path, handle: BinaryIO) -> None:
        self._final = final
        self._partial = partial
        self._handle = handle
        self._done = False

    async def write(self, chunk: bytes) -> None:
        try:
            await asyncio.to_thread(self._handle.write, chunk)
        except OSError as exc:
            await self.abort()
            raise Unavailable("file storage is unavailable", code="storage_unavailable") from exc

    async def commit(self) -> None:
        def publish() -> None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._partial, self._final)

        try:
            await asyncio.to_thread(publish)
        except OSError as exc:
            await self.abort()
            raise Unavailable("file storage is unavailable", code="storage_unavailable") from exc
        self._done = True

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True

        def discard() -> None:
            self._handle.close()
            self._partial.unlink(missing_ok=True)

        await asyncio.to_thread(discard)


class LocalFileStorage:
    """Objects as files under ``root``; partial uploads in ``root/.partial`` until committed."""

    def __init__(self, root: Path, max_object_bytes: int = DEFAULT_MAX_OBJECT) -> None:
        self.root = root
        self.max_object_bytes = max_object_bytes

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def writer(self, key: str) -> _LocalWriter:
        final = self._path(key)
        partial = self.root / ".partial" / uuid.uuid4().hex

        def start() -> BinaryIO:
            partial.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            return os.fdopen(fd, "wb")

        try:
            handle = await asyncio.to_thread(start)
        except OSError as exc:
            raise Unavailable("file storage is unavailable", code="storage_unavailable") from exc
        return _LocalWriter(final, partial, handle)

    async def read(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise NotFound("no such file", code="file_not_found") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def purge_abandoned(self, older_than: float) -> int:
        """The partial files of this node's directory not written to for ``older_than`` seconds."""

        def purge() -> int:
            partial, before, purged = self.root / ".partial", time.time() - older_than, 0
            for path in partial.iterdir() if partial.is_dir() else ():
                try:
                    if path.stat().st_mtime < before:
                        path.unlink()
                        purged += 1
                except FileNotFoundError:  # committed or aborted meanwhile
                    continue
            return purged

        return await asyncio.to_thread(purge)
