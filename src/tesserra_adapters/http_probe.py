"""HTTP health checks: a real GET over httpx, and an in-memory fake that answers what it is told."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tesserra_adapters.outbound import OnDemandClient, on_demand_client
from tesserra_core.ports.health import HttpCheck
from tesserra_core.ports.tracing import Tracer


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class HttpxProbe:
    """One shared client (connection pool), no redirects followed, no proxies from the environment:
    health checks reach the published loopback port directly. The client is made on the first check."""

    def __init__(self, client: OnDemandClient) -> None:
        self._client = client

    async def get(self, url: str, within: float) -> HttpCheck:
        import httpx

        start = time.perf_counter()
        try:
            response = await self._client().get(url, timeout=within)
        except httpx.TimeoutException:
            return HttpCheck(None, _ms(start), f"timed out after {within:g} s")
        except httpx.HTTPError as exc:
            return HttpCheck(None, _ms(start), f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return HttpCheck(response.status_code, _ms(start))


@asynccontextmanager
async def httpx_probe(tracer: Tracer | None = None) -> AsyncIterator[HttpxProbe]:
    """The probe with its client, closed at shutdown."""
    async with on_demand_client(tracer, trust_env=False, follow_redirects=False) as client:
        yield HttpxProbe(client)


class MemoryHttpProbe:
    """Answers the status set for a URL with ``answer``; any other URL is refused, as a closed port is."""

    def __init__(self) -> None:
        self.answers: dict[str, int] = {}
        self.asked: list[str] = []

    def answer(self, url: str, status_code: int) -> None:
        self.answers[url] = status_code

    async def get(self, url: str, within: float) -> HttpCheck:
        self.asked.append(url)
        status = self.answers.get(url)
        if status is None:
            return HttpCheck(None, 0.0, "ConnectError: connection refused")
        return HttpCheck(status, 0.0)
