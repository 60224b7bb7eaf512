"""FileStorage contract: memory and a local directory. Nothing is visible before commit, an abort
leaves nothing behind, keys never leave the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tesserra_adapters.memory.storage import MemoryFileStorage
from tesserra_adapters.storage import LocalFileStorage
from tesserra_core.errors import NotFound
from tesserra_core.ports.files import FileStorage


@pytest.fixture(params=["memory", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> FileStorage:
    return MemoryFileStorage(max_object_bytes=1000) if request.param == "memory" else LocalFileStorage(tmp_path, 1000)


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
