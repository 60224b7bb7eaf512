"""Outbound HTTP clients built on first use: httpx (~5 MB and ~0.05 s of imports, and ~15 ms to
load the CA bundle per client) is paid by the server that makes a call, not by every start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


class OnDemandClient:
    """An ``httpx.AsyncClient`` with ``options``, made the first time it is called for."""

    def __init__(self, **options: Any) -> None:
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


@asynccontextmanager
async def on_demand_client(**options: Any) -> AsyncIterator[OnDemandClient]:
    """The client for the life of the block; closed at its end if it was ever made."""
    client = OnDemandClient(**options)
    try:
        yield client
    finally:
        await client.aclose()
