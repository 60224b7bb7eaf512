"""The built-in catalog (``builtin.json``, server.json documents) and the configured catalog source."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from tesserra_adapters.outbound import OnDemandClient
from tesserra_core.errors import Unavailable
from tesserra_core.ports.tracing import Tracer

MAX_BYTES = 20 * 1024 * 1024


def _documents(raw: bytes, origin: str) -> list[Any]:
    """A registry listing (``{"servers": [...]}``) or a bare list of server.json documents."""
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise Unavailable(f"the catalog at {origin} is not JSON", code="catalog_unreadable") from None
    if isinstance(decoded, dict) and isinstance(decoded.get("servers"), list):
        return list(decoded["servers"])
    if isinstance(decoded, list):
        return decoded
    raise Unavailable(f"the catalog at {origin} holds no server list", code="catalog_unreadable")


class CatalogFile:
    """``builtin`` (shipped with the package), a file path, or an http(s) URL (fetched with ``tracer``'s
    trace context)."""

    def __init__(self, location: str = "builtin", *, timeout: float = 20.0, tracer: Tracer | None = None) -> None:
        self.name = location or "builtin"
        self._timeout = timeout
        self._tracer = tracer

    async def documents(self) -> list[Any]:
        location = self.name
        if location == "builtin":
            raw = resources.files("tesserra_adapters.catalog").joinpath("builtin.json").read_bytes()
        elif location.startswith(("http://", "https://")):
            raw = await self._fetch(location)
        else:
            path = Path(location.removeprefix("file://"))
            try:
                raw = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise Unavailable(f"cannot read the catalog file: {exc.strerror}", code="catalog_unreadable") from None
        if len(raw) > MAX_BYTES:
            raise Unavailable("the catalog is larger than 20 MiB", code="catalog_unreadable")
        return _documents(raw, location)

    async def _fetch(self, url: str) -> bytes:
        import httpx

        try:
            async with OnDemandClient(self._tracer, timeout=self._timeout, follow_redirects=True)() as client:
                response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"the catalog registry is unreachable ({type(exc).__name__})", code="catalog_unreadable"
            ) from None
        if response.status_code != 200:
            raise Unavailable(f"the catalog registry answered {response.status_code}", code="catalog_unreadable")
        return response.content
