"""Large bodies through the sandbox proxy on the process runtime (the echo server under bubblewrap and
pasta), over real sockets: 256 MiB up at full speed and 256 MiB down read slower than the sandbox
writes, the way Debian 12's pasta stalled them a megabyte or two before their end; the server (in
this process) grows by far less than a body. /status names the pasta in use."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tesserra_adapters.runtime.sandbox import STREAMING_PASTA, Sandbox, pasta_streams, pasta_version
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.support import LiveServer, eventually, live_server

ECHO = Path(__file__).resolve().parents[1] / "servers" / "echo_sandbox.py"
EMAIL, PASSWORD = "owner@stream.tesserra.test", "stream-password-3"
HEADER = "X-Tesserra-Proxy-Token"
MIB = 1 << 20
SIZE = 256 * MIB
READ_RATE = 64 * MIB
"""Bytes per second the download is read at: slower than the sandbox writes, so pasta's buffers fill."""
STALL = 15.0
"""No byte for this long: the transfer stalled."""


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
async def process_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    sandbox = Sandbox()
    if sandbox.problem is not None:
        support.missing("the process sandbox", sandbox.problem)
    version = pasta_version(sandbox.pasta)
    if not pasta_streams(version):
        support.missing(
            f"a pasta from passt {STREAMING_PASTA} or later (found {version} at {sandbox.pasta})",
            "run scripts/install-pasta.sh (as root)",
        )
    settings = support.test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with live_server(settings) as server:
        yield server


async def test_256_mib_stream_both_ways_through_pasta_in_bounded_memory(process_server: LiveServer) -> None:
    uc = process_server.uc
    assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
    bearer = {"Authorization": f"Bearer {(await uc.sessions.login(Credentials(EMAIL, PASSWORD))).access_token}"}
    async with httpx.AsyncClient(base_url=process_server.url, timeout=STALL, trust_env=False) as client:
        status = (await client.get("/status")).json()["components"]["sandbox"]
        assert status["status"] == "ok", status
        assert pasta_version(shutil.which("pasta") or "pasta") in status["detail"], status
        template = {"name": "echo", "command": [str(ECHO)], "ports": [8000]}
        created = await client.post("/api/sandboxes", json=template, headers=bearer)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        try:
            token = {HEADER: (await client.get(f"/api/runtime/proxy-auth/{sid}", headers=bearer)).json()["token"]}

            async def answers() -> bool | None:
                return (await client.get(f"/api/runtime/proxy/{sid}/", headers=token)).status_code == 200 or None

            await eventually(answers, within=30)
            digest, block, baseline, peak = hashlib.sha256(), b"u" * MIB, _rss(), 0

            async def upload() -> AsyncIterator[bytes]:
                nonlocal peak
                for _ in range(SIZE // MIB):
                    digest.update(block)
                    peak = max(peak, _rss())
                    yield block

            sent = await client.post(f"/api/runtime/proxy/{sid}/upload", content=upload(), headers=token)
            assert sent.status_code == 200, sent.text
            assert (sent.json()["length"], sent.json()["sha256"]) == (SIZE, digest.hexdigest())

            received, started = 0, time.monotonic()
            async with client.stream("GET", f"/api/runtime/proxy/{sid}/download?bytes={SIZE}", headers=token) as down:
                async for piece in down.aiter_raw():  # a read timeout (STALL s without a byte) fails the test
                    received += len(piece)
                    peak = max(peak, _rss())
                    ahead = received / READ_RATE - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            assert received == SIZE
            assert peak - baseline < 32 * MIB, (baseline, peak)
        finally:  # a sandbox outlives its server: delete it even when the test fails
            deleted = await client.delete(f"/api/sandboxes/{sid}", headers=bearer)
        assert deleted.status_code == 200, deleted.text
