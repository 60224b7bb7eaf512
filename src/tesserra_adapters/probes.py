"""Probes for /status: database, storage directory, Docker engine."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

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
