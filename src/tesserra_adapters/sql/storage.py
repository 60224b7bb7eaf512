"""File storage in the database (SQLite or PostgreSQL): every node sharing the database sees every object.

An object's bytes are rows of ``file_chunks`` (upload id, seq, up to ``chunk_bytes`` bytes each), written
one chunk at a time as they arrive and read back one chunk at a time: neither side ever holds the whole
object. Chunks belong to an upload, not to a key: ``stored_objects`` names the upload a key holds, and the
commit that points a key at its upload (dropping a replaced upload's chunks) is one transaction, so an
object appears whole or not at all and a reader never sees half an upload. An upload whose process died
before its commit or abort leaves chunks no object names; ``purge_abandoned`` (housekeeping, once a day
old) drops them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.limits import insert_new
from tesserra_adapters.storage import DEFAULT_MAX_OBJECT, check_key
from tesserra_core.errors import NotFound, Unavailable

CHUNK_BYTES = 1024 * 1024
"""The bytes of one stored chunk: large enough that a 2 GiB upload is 2048 rows, small enough to hold."""

_objects, _chunks = t.stored_objects.c, t.file_chunks.c
log = logging.getLogger(__name__)


def _unavailable() -> Unavailable:
    return Unavailable("file storage is unavailable", code="storage_unavailable")


class _DatabaseWriter:
    def __init__(self, storage: DatabaseFileStorage, key: str) -> None:
        self._storage = storage
        self._key = key
        self._upload = uuid.uuid4().hex
        self._pending = bytearray()
        self._seq = 0
        self._size = 0
        self._done = False

    async def write(self, chunk: bytes) -> None:
        self._pending += chunk
        self._size += len(chunk)
        size = self._storage.chunk_bytes
        while len(self._pending) >= size:
            await self._flush(bytes(self._pending[:size]))
            del self._pending[:size]

    async def _flush(self, data: bytes) -> None:
        row = {"upload_id": self._upload, "seq": self._seq, "data": data, "written_at": self._storage.clock()}
        try:
            async with self._storage.engine.begin() as conn:
                await conn.execute(insert(t.file_chunks).values(row))
        except SQLAlchemyError as exc:
            await self.abort()
            raise _unavailable() from exc
        self._seq += 1

    async def commit(self) -> None:
        if self._pending:
            await self._flush(bytes(self._pending))
            self._pending.clear()
        row = {
            "key": self._key,
            "upload_id": self._upload,
            "size": self._size,
            "chunks": self._seq,
            "stored_at": self._storage.clock(),
        }
        try:
            async with self._storage.engine.begin() as conn:
                if not await insert_new(conn, t.stored_objects, row):  # the key holds an object: replace it
                    held = select(_objects.upload_id).where(_objects.key == self._key).with_for_update()
                    replaced = (await conn.execute(held)).scalar_one()
                    await conn.execute(update(t.stored_objects).where(_objects.key == self._key).values(row))
                    await conn.execute(delete(t.file_chunks).where(_chunks.upload_id == replaced))
        except SQLAlchemyError as exc:
            await self.abort()
            raise _unavailable() from exc
        self._done = True

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._pending.clear()
        try:
            async with self._storage.engine.begin() as conn:
                await conn.execute(delete(t.file_chunks).where(_chunks.upload_id == self._upload))
        except SQLAlchemyError:  # its chunks stay unnamed: purge_abandoned drops them
            log.warning("dropping the chunks of aborted upload %s failed", self._upload, exc_info=True)


class DatabaseFileStorage:
    """Objects as chunk rows in the database every node shares (see the module's docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_object_bytes: int = DEFAULT_MAX_OBJECT,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.max_object_bytes = max_object_bytes
        self.chunk_bytes = chunk_bytes
        self.clock = clock

    async def writer(self, key: str) -> _DatabaseWriter:
        return _DatabaseWriter(self, check_key(key))

    async def _stored(self, key: str) -> tuple[str, int] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_objects.upload_id, _objects.chunks).where(_objects.key == key))).first()
        return None if row is None else (row.upload_id, row.chunks)

    async def read(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """One stored chunk at a time, cut into ``chunk_size`` pieces. An object deleted or replaced while
        it is read ends the read with ``NotFound`` rather than a truncated or spliced body."""
        stored = await self._stored(check_key(key))
        if stored is None:
            raise NotFound("no such file", code="file_not_found")
        upload, count = stored
        buffer = bytearray()
        for seq in range(count):
            async with self.engine.connect() as conn:
                data = (
                    await conn.execute(select(_chunks.data).where(_chunks.upload_id == upload, _chunks.seq == seq))
                ).scalar_one_or_none()
            if data is None:
                raise NotFound("the file changed while it was read", code="file_not_found")
            buffer += data
            while len(buffer) >= chunk_size:
                yield bytes(buffer[:chunk_size])
                del buffer[:chunk_size]
        if buffer:
            yield bytes(buffer)

    async def delete(self, key: str) -> bool:
        check_key(key)
        async with self.engine.begin() as conn:
            upload = (
                await conn.execute(delete(t.stored_objects).where(_objects.key == key).returning(_objects.upload_id))
            ).scalar_one_or_none()
            if upload is None:
                return False
            await conn.execute(delete(t.file_chunks).where(_chunks.upload_id == upload))
        return True

    async def exists(self, key: str) -> bool:
        return await self._stored(check_key(key)) is not None

    async def purge_abandoned(self, older_than: float) -> int:
        """Drop the chunks of uploads that no object names and that stopped being written ``older_than``
        seconds ago (their writer's process died before its commit or abort); how many chunks."""
        named = select(_objects.upload_id)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(t.file_chunks).where(
                    _chunks.written_at < self.clock() - older_than, _chunks.upload_id.not_in(named)
                )
            )
        return int(result.rowcount or 0)
