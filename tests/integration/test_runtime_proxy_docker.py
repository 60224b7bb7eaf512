"""The sandbox proxy on the real Docker engine, over real sockets: the busybox httpd sandbox answers
through /api/runtime/proxy with a proxy token, sandboxed (CSP, nosniff); after a stop and a start (the
container's host port may change) the proxy finds it again from stored state, and a restart ends the
token."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.integration.test_sandboxes_docker import HTTPD
from tests.support import (
    BUSYBOX_IMAGE,
    DOCKER_HOST,
    PYTHON_MCP_IMAGE,
    LiveServer,
    docker_image,
    eventually,
    live_server,
)

EMAIL = "owner@proxy.tesserra.test"
PASSWORD = "docker-password-2"
HEADER = "X-Tesserra-Proxy-Token"


@pytest.fixture
async def docker_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    await docker_image(BUSYBOX_IMAGE)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    settings = support.test_settings(tmp_path, url, runtime="docker", docker_host=DOCKER_HOST)
    async with live_server(settings) as server:
        yield server


async def test_the_proxy_reaches_a_docker_sandbox_from_stored_state(docker_server: LiveServer) -> None:
    uc = docker_server.uc
    assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
    bearer = {"Authorization": f"Bearer {(await uc.sessions.login(Credentials(EMAIL, PASSWORD))).access_token}"}
    async with httpx.AsyncClient(base_url=docker_server.url, timeout=20, trust_env=False) as client:
        created = await client.post("/api/sandboxes", json=HTTPD, headers=bearer)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        token = {HEADER: (await client.get(f"/api/runtime/proxy-auth/{sid}", headers=bearer)).json()["token"]}

        async def page() -> httpx.Response | None:
            answer = await client.get(f"/api/runtime/proxy/{sid}/index.html", headers=token)
            return answer if answer.status_code == 200 else None

        served = await eventually(page, within=20)
        assert served.text.strip() == "tesserra test page"
        assert served.headers["content-security-policy"].startswith("sandbox")
        assert served.headers["x-content-type-options"] == "nosniff"
        assert (await client.post(f"/api/sandboxes/{sid}/stop", headers=bearer)).json()["state"] == "stopped"
        stopped = await client.get(f"/api/runtime/proxy/{sid}/index.html", headers=token)
        assert stopped.status_code == 409
        assert stopped.json()["code"] == "sandbox_stopped"
        assert (await client.post(f"/api/sandboxes/{sid}/start", headers=bearer)).json()["state"] == "running"
        token = {HEADER: (await client.get(f"/api/runtime/proxy-auth/{sid}", headers=bearer)).json()["token"]}
        assert (await eventually(page, within=20)).text.strip() == "tesserra test page"
        assert (await client.post(f"/api/sandboxes/{sid}/restart", headers=bearer)).json()["state"] == "running"
        ended = await client.get(f"/api/runtime/proxy/{sid}/index.html", headers=token)
        assert ended.status_code == 401
        assert ended.json()["code"] == "proxy_token_revoked"
        assert (await client.delete(f"/api/sandboxes/{sid}", headers=bearer)).json()["state"] == "deleted"


def echo_in_python_image() -> dict[str, object]:
    """tests/servers/echo_sandbox.py in the Python test image: its source, compressed, is the command
    (a container sees no file of the host's)."""
    source = (Path(__file__).resolve().parents[1] / "servers" / "echo_sandbox.py").read_bytes()
    packed = base64.b64encode(zlib.compress(source, 9)).decode()
    code = f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"
    return {"name": "echo", "image": PYTHON_MCP_IMAGE, "command": ["python3", "-c", code], "ports": [8000]}


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_large_bodies_stream_both_ways_in_bounded_memory(docker_server: LiveServer) -> None:
    """64 MiB up and 64 MiB down through the proxy (the server runs in this process): had it held a
    body whole, this process would have grown by as much."""
    await docker_image(PYTHON_MCP_IMAGE)
    uc = docker_server.uc
    assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
    bearer = {"Authorization": f"Bearer {(await uc.sessions.login(Credentials(EMAIL, PASSWORD))).access_token}"}
    size, block = 64 << 20, b"u" * (1 << 20)
    async with httpx.AsyncClient(base_url=docker_server.url, timeout=60, trust_env=False) as client:
        created = await client.post("/api/sandboxes", json=echo_in_python_image(), headers=bearer)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        token = {HEADER: (await client.get(f"/api/runtime/proxy-auth/{sid}", headers=bearer)).json()["token"]}

        async def answers() -> bool | None:
            return (await client.get(f"/api/runtime/proxy/{sid}/", headers=token)).status_code == 200 or None

        await eventually(answers, within=30)
        digest, baseline, peak = hashlib.sha256(), _rss(), 0

        async def upload() -> AsyncIterator[bytes]:
            nonlocal peak
            for _ in range(size // len(block)):
                digest.update(block)
                peak = max(peak, _rss())
                yield block

        sent = await client.post(f"/api/runtime/proxy/{sid}/upload", content=upload(), headers=token, timeout=120)
        assert sent.status_code == 200, sent.text
        assert (sent.json()["length"], sent.json()["sha256"]) == (size, digest.hexdigest())
        received = 0
        path = f"/api/runtime/proxy/{sid}/download?bytes={size}"
        async with client.stream("GET", path, headers=token, timeout=120) as down:
            async for piece in down.aiter_raw():
                received += len(piece)
                peak = max(peak, _rss())
        assert received == size
        assert peak - baseline < 32 << 20, (baseline, peak)
        assert (await client.delete(f"/api/sandboxes/{sid}", headers=bearer)).status_code == 200
