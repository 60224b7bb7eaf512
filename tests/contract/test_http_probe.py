"""HttpProbe contract, on the httpx adapter (against a real server on loopback) and on the memory
fake (told the same answers): a status comes back with a latency; a closed port or a silent server
is an error, never an exception, and a timeout is kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tesserra_adapters.http_probe import MemoryHttpProbe, httpx_probe
from tesserra_core.ports.health import HttpProbe
from tests.support import free_port


@dataclass
class Target:
    ok: str
    failing: str
    closed: str
    silent: str


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    path = request.split(b" ")[1]
    if path == b"/silent":
        await asyncio.sleep(30)
    status = b"200 OK" if path == b"/ok" else b"503 Service Unavailable"
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
    await writer.drain()
    writer.close()


@pytest.fixture(params=["httpx", "memory"])
async def probe_and_target(request: pytest.FixtureRequest) -> AsyncIterator[tuple[HttpProbe, Target]]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    target = Target(f"{base}/ok", f"{base}/fail", f"http://127.0.0.1:{free_port()}/", f"{base}/silent")
    try:
        if request.param == "httpx":
            async with httpx_probe() as probe:
                yield probe, target
        else:
            fake = MemoryHttpProbe()
            fake.answer(target.ok, 200)
            fake.answer(target.failing, 503)
            yield fake, target
    finally:
        server.close()


async def test_a_status_comes_back_with_its_latency(probe_and_target: tuple[HttpProbe, Target]) -> None:
    probe, target = probe_and_target
    ok = await probe.get(target.ok, 2.0)
    failing = await probe.get(target.failing, 2.0)
    assert (ok.status_code, ok.error) == (200, None)
    assert ok.latency_ms >= 0
    assert (failing.status_code, failing.error) == (503, None)


async def test_a_closed_port_is_an_error_not_an_exception(probe_and_target: tuple[HttpProbe, Target]) -> None:
    probe, target = probe_and_target
    check = await probe.get(target.closed, 2.0)
    assert check.status_code is None
    assert check.error


async def test_a_silent_server_is_cut_off_at_the_timeout(probe_and_target: tuple[HttpProbe, Target]) -> None:
    probe, target = probe_and_target
    started = time.perf_counter()
    check = await probe.get(target.silent, 0.3)
    assert time.perf_counter() - started < 2.0
    assert check.status_code is None
    assert check.error
