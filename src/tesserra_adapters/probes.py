"""Probes for /status: database, storage directory, Docker engine, the process runtime's sandbox."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tesserra_adapters.runtime.sandbox import STREAMING_PASTA, Sandbox, pasta_streams, pasta_version
from tesserra_core.ports.health import ComponentHealth, Health
from tesserra_core.ports.persistence import UnitOfWorkFactory


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


class DatabaseProbe:
    name = "database"
    critical = True

    def __init__(self, uow: UnitOfWorkFactory, backend: str) -> None:
        self._uow = uow
        self._backend = backend

    async def check(self) -> ComponentHealth:
        start = time.perf_counter()
        try:
            await self._uow.ping()
        except Exception as exc:
            return ComponentHealth(Health.DOWN, f"{self._backend}: {type(exc).__name__}")
        return ComponentHealth(Health.OK, self._backend, _ms(start))


class StorageProbe:
    name = "storage"
    critical = False

    def __init__(self, root: Path) -> None:
        self._root = root

    async def check(self) -> ComponentHealth:
        start = time.perf_counter()
        try:
            await asyncio.to_thread(self._write_and_remove)
        except OSError as exc:
            return ComponentHealth(Health.DOWN, f"{self._root} is not writable: {exc.strerror}")
        return ComponentHealth(Health.OK, "", _ms(start))

    def _write_and_remove(self) -> None:
        probe = self._root / f".probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()


class DockerProbe:
    name = "docker"
    critical = False

    def __init__(self, docker_host: str) -> None:
        self._host = docker_host

    async def check(self) -> ComponentHealth:
        import httpx

        if not self._host.startswith("unix://"):
            url, transport = f"{self._host.replace('tcp://', 'http://').rstrip('/')}/_ping", None
        else:
            socket = self._host.removeprefix("unix://")
            url, transport = "http://docker/_ping", httpx.AsyncHTTPTransport(uds=socket)
        start = time.perf_counter()
        try:
            async with httpx.AsyncClient(transport=transport, timeout=1.5) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            return ComponentHealth(Health.DOWN, f"no Docker engine answers at {self._host} ({type(exc).__name__})")
        if response.status_code != 200:
            return ComponentHealth(Health.DEGRADED, f"Docker engine answered {response.status_code}")
        return ComponentHealth(Health.OK, self._host, _ms(start))


class SandboxProbe:
    """The process runtime's sandbox: whether it runs here (else workloads are refused: degraded) and
    the pasta it attaches, with a warning when that pasta stalls large transfers (``pasta_streams``)."""

    name = "sandbox"
    critical = False

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def check(self) -> ComponentHealth:
        start = time.perf_counter()
        problem = await asyncio.to_thread(lambda: self._sandbox.problem)  # probed once, then cached
        if problem is not None:
            return ComponentHealth(Health.DEGRADED, f"process workloads are refused: {problem}")
        version = await asyncio.to_thread(pasta_version, self._sandbox.pasta)
        detail = f"bubblewrap; {version or 'pasta (no version)'} ({self._sandbox.pasta})"
        if not pasta_streams(version):
            detail += f"; large transfers may stall: scripts/install-pasta.sh installs passt {STREAMING_PASTA}"
        return ComponentHealth(Health.OK, detail, _ms(start))
