"""FileStorage contract: memory, a local directory, and the database (SQLite and PostgreSQL). Nothing is
visible before commit, an abort leaves nothing behind, keys never leave the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.memory.storage import MemoryFileStorage
from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.storage import DatabaseFileStorage
from tesserra_adapters.storage import LocalFileStorage
from tesserra_core.errors import NotFound
from tesserra_core.ports.files import FileStorage


@pytest.fixture(
    params=["memory", "local", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> FileStorage:
    if request.param == "memory":
        return MemoryFileStorage(max_object_bytes=1000)
    if request.param == "local":
        return LocalFileStorage(tmp_path, 1000)
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return DatabaseFileStorage(engine, 1000, chunk_bytes=3)  # tiny chunks: every object spans several rows


async def _unnamed_chunks(engine: AsyncEngine) -> int:
    """Chunk rows no stored object names (an upload's leftovers)."""
    named = select(t.stored_objects.c.upload_id)
    async with engine.connect() as conn:
        query = select(func.count()).select_from(t.file_chunks).where(t.file_chunks.c.upload_id.not_in(named))
        return int((await conn.execute(query)).scalar_one())


async def _read(storage: FileStorage, key: str, chunk_size: int = 65536) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, chunk_size)])


async def test_an_object_appears_only_when_committed(storage: FileStorage) -> None:
    writer = await storage.writer("t1/p1/f1")
    await writer.write(b"hello ")
    await writer.write(b"world")
    assert not await storage.exists("t1/p1/f1")
    await writer.commit()
    assert await storage.exists("t1/p1/f1")
    assert await _read(storage, "t1/p1/f1") == b"hello world"
    assert [c async for c in storage.read("t1/p1/f1", 4)] == [b"hell", b"o wo", b"rld"]
    assert storage.max_object_bytes == 1000


async def test_an_aborted_object_leaves_nothing(storage: FileStorage, tmp_path: Path) -> None:
    writer = await storage.writer("t1/p1/gone")
    await writer.write(b"x" * 100)
    await writer.abort()
    await writer.abort()
    assert not await storage.exists("t1/p1/gone")
    with pytest.raises(NotFound):
        await _read(storage, "t1/p1/gone")
    if isinstance(storage, LocalFileStorage):
        assert _files(tmp_path) == []
    elif isinstance(storage, DatabaseFileStorage):
        assert await _unnamed_chunks(storage.engine) == 0
    else:
        assert isinstance(storage, MemoryFileStorage)
        assert not storage.partial


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_delete_and_missing_objects(storage: FileStorage) -> None:
    writer = await storage.writer("t2/p/f")
    await writer.write(b"data")
    await writer.commit()
    assert await storage.delete("t2/p/f")
    assert not await storage.delete("t2/p/f")
    assert not await storage.exists("t2/p/f")
    with pytest.raises(NotFound):
        await _read(storage, "t2/p/f")


async def test_empty_objects_are_objects(storage: FileStorage) -> None:
    writer = await storage.writer("t3/p/empty")
    await writer.commit()
    assert await storage.exists("t3/p/empty")
    assert await _read(storage, "t3/p/empty") == b""


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "a/./b", "a\\b", "a/b\x00", ""])
async def test_keys_that_are_not_plain_ids_are_refused(storage: FileStorage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.writer(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.exists(key)


async def test_a_local_object_is_a_private_file_under_the_root(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    writer = await storage.writer("t/p/f")
    await writer.write(b"x")
    await writer.commit()
    path = tmp_path / "files" / "t" / "p" / "f"
    assert path.read_bytes() == b"x"
    assert os.stat(path).st_mode & 0o077 == 0


async def test_a_database_object_is_stored_and_read_chunk_by_chunk_and_replaced_whole(
    sql_engine: AsyncEngine,
) -> None:
    engine = sql_engine
    backend = engine.dialect.name
    storage = DatabaseFileStorage(engine, chunk_bytes=4)
    key = f"chunks/{backend}/object"
    writer = await storage.writer(key)
    for piece in (b"abc", b"defghij", b"", b"k"):
        await writer.write(piece)
    async with engine.connect() as conn:  # whole chunks are rows already, before the commit
        written = (await conn.execute(select(func.count()).select_from(t.file_chunks))).scalar_one()
    await writer.commit()
    assert [c async for c in storage.read(key, 5)] == [b"abcde", b"fghij", b"k"]
    async with engine.connect() as conn:
        row = (await conn.execute(select(t.stored_objects).where(t.stored_objects.c.key == key))).one()
        sizes = (
            await conn.execute(
                select(func.length(t.file_chunks.c.data))
                .where(t.file_chunks.c.upload_id == row.upload_id)
                .order_by(t.file_chunks.c.seq)
            )
        ).scalars()
        assert list(sizes) == [4, 4, 3]
    assert (row.size, row.chunks) == (11, 3)
    assert written >= 2

    again = await storage.writer(key)  # a second upload replaces the object only at its commit
    await again.write(b"new")
    assert await _read(storage, key) == b"abcdefghijk"
    await again.commit()
    assert await _read(storage, key) == b"new"
    assert await _unnamed_chunks(engine) == 0  # the replaced upload's chunks went with it


async def test_a_database_upload_left_unfinished_is_purged_once_abandoned(
    sql_engine: AsyncEngine,
) -> None:
    engine = sql_engine
    backend = engine.dialect.name
    now = [1_000_000.0]
    storage = DatabaseFileStorage(engine, chunk_bytes=2, clock=lambda: now[0])
    writer = await storage.writer(f"abandoned/{backend}/object")
    await writer.write(b"xxxxx")  # two chunks written, then its process "dies": no commit, no abort
    assert await _unnamed_chunks(engine) == 2
    assert await storage.purge_abandoned(older_than=60) == 0
    now[0] += 61
    assert await storage.purge_abandoned(older_than=60) == 2
    assert await _unnamed_chunks(engine) == 0
    assert not await storage.exists(f"abandoned/{backend}/object")


async def test_a_local_upload_left_unfinished_is_purged_once_abandoned(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    writer = await storage.writer("abandoned/local/object")
    await writer.write(b"xxxxx")  # its process "dies": no commit, no abort
    done = await storage.writer("kept/local/object")
    await done.write(b"y")
    await done.commit()
    assert await storage.purge_abandoned(older_than=3600) == 0
    [partial] = (tmp_path / "files" / ".partial").iterdir()
    os.utime(partial, (0, 0))
    assert await storage.purge_abandoned(older_than=3600) == 1
    assert list((tmp_path / "files" / ".partial").iterdir()) == []
    assert await _read(storage, "kept/local/object") == b"y"
