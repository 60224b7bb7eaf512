"""Outbound HTTP clients built on first use: httpx (~5 MB and ~0.05 s of imports, and ~15 ms to
load the CA bundle per client) is paid by the server that makes a call, not by every start. With
tracing on, each request carries the current span's W3C trace context (``traceparent``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from tesserra_core.ports.tracing import Tracer

if TYPE_CHECKING:
    import httpx


class OnDemandClient:
    """An ``httpx.AsyncClient`` with ``options``, made the first time it is called for; its requests
    carry ``tracer``'s trace context."""

    def __init__(self, tracer: Tracer | None = None, **options: Any) -> None:
        if tracer is not None and tracer.enabled:
            options["event_hooks"] = {"request": [_carrying(tracer)]}
        self._options = options
        self._client: httpx.AsyncClient | None = None

    def __call__(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(**self._options)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _carrying(tracer: Tracer) -> Any:
    async def carry(request: httpx.Request) -> None:
        tracer.inject(request.headers)

    return carry


@asynccontextmanager
async def on_demand_client(tracer: Tracer | None = None, **options: Any) -> AsyncIterator[OnDemandClient]:
    """The client for the life of the block; closed at its end if it was ever made."""
    client = OnDemandClient(tracer, **options)
    try:
        yield client
    finally:
        await client.aclose()
