"""A 100 MB upload and download through a real server process (``tesserra serve`` in a subprocess), with
the files in a local directory (SQLite) or in the database (SQLite and PostgreSQL), and the server's peak
resident memory measured from the kernel's own high-water mark (/proc/<pid>/status VmHWM): streaming must
keep it far below the file's size."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, postgres_database

SIZE = 100 * 1024 * 1024
CHUNK = 1024 * 1024
BOUND = 40 * 1024 * 1024
"""How much the server's peak RSS may grow while it moves 100 MB (buffering the file would add >= 100 MB)."""


def peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        pytest.skip("needs Linux /proc to read the server's peak resident memory")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(
    params=["directory-sqlite", "database-sqlite", pytest.param("database-postgres", marks=pytest.mark.postgres)]
)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """TESSERRA_FILE_STORAGE and the database URL."""
    kind, _, backend = str(request.param).partition("-")
    if backend == "postgres":
        async with postgres_database() as url:
            yield kind, url
    else:
        yield kind, f"sqlite+aiosqlite:///{tmp_path / 'tesserra.db'}"


@pytest.fixture
def serving(tmp_path: Path, storage: tuple[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    kind, database_url = storage
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TESSERRA_")},
        "TESSERRA_DATABASE_URL": database_url,
        "TESSERRA_FILE_STORAGE": kind,
        "TESSERRA_DATA_DIR": str(tmp_path / "data"),
        "TESSERRA_SECRET_KEY": "s" * 48,
        "TESSERRA_BOOTSTRAP_EMAIL": "big@tesserra.test",
        "TESSERRA_BOOTSTRAP_PASSWORD": "big uploads 123",
        "TESSERRA_PORT": str(port),
        "TESSERRA_LOG_LEVEL": "WARNING",
    }
    cli = Path(sys.executable).with_name("tesserra")
    process = subprocess.Popen([str(cli), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _block(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (CHUNK // 32)


async def test_100_mb_in_and_out_with_bounded_server_memory(serving: tuple[str, int]) -> None:
    url, pid = serving
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        login = await client.post("/api/auth/login", json={"email": "big@tesserra.test", "password": "big uploads 123"})
        assert login.status_code == 200, login.text
        h = {"Authorization": f"Bearer {login.json()['access_token']}"}
        project = (await client.post("/api/projetos", json={"name": "big"}, headers=h)).json()["id"]
        files = f"/api/projetos/{project}/arquivos"
        warm = await client.post(files, params={"filename": "warm.bin"}, content=_block(0) * 4, headers=h)
        assert warm.status_code == 201, warm.text
        await client.get(f"{files}/{warm.json()['id']}", headers=h)
        baseline = peak_rss(pid)

        sent = hashlib.sha256()

        async def body() -> AsyncIterator[bytes]:
            for i in range(SIZE // CHUNK):
                block = _block(i)
                sent.update(block)
                yield block

        up = await client.post(files, params={"filename": "big.bin"}, content=body(), headers=h)
        assert up.status_code == 201, up.text
        assert up.json()["size"] == SIZE
        assert up.json()["sha256"] == sent.hexdigest()
        after_upload = peak_rss(pid)

        async def multipart() -> AsyncIterator[bytes]:
            yield b'--X\r\nContent-Disposition: form-data; name="file"; filename="big-form.bin"\r\n\r\n'
            for i in range(SIZE // CHUNK):
                yield _block(i)
            yield b"\r\n--X--\r\n"

        form = await client.post(
            files, content=multipart(), headers={**h, "Content-Type": "multipart/form-data; boundary=X"}
        )
        assert form.status_code == 201, form.text
        assert (form.json()["size"], form.json()["sha256"]) == (SIZE, sent.hexdigest())
        after_multipart = peak_rss(pid)

        received = hashlib.sha256()
        size = 0
        async with client.stream("GET", f"{files}/{up.json()['id']}", headers=h) as down:
            assert down.status_code == 200
            assert down.headers["content-length"] == str(SIZE)
            async for chunk in down.aiter_bytes():
                received.update(chunk)
                size += len(chunk)
        after_download = peak_rss(pid)

    assert (size, received.hexdigest()) == (SIZE, sent.hexdigest())
    growth_up, growth_down = after_upload - baseline, after_download - baseline
    growth_form = after_multipart - baseline
    print(
        f"\nserver peak RSS: baseline {baseline >> 20} MiB, +{growth_up >> 20} MiB after a 100 MiB raw upload, "
        f"+{growth_form >> 20} MiB after a 100 MiB multipart upload, +{growth_down >> 20} MiB after a download"
    )
    assert growth_up < BOUND, f"the server's peak RSS grew by {growth_up >> 20} MiB during a 100 MiB upload"
    assert growth_form < BOUND, f"the server's peak RSS grew by {growth_form >> 20} MiB during a multipart upload"
    assert growth_down < BOUND, f"the server's peak RSS grew by {growth_down >> 20} MiB during a 100 MiB download"
