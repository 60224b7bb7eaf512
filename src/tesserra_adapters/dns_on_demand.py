"""The DNS adapters as the composition root wires them: ``tesserra_adapters.dns`` (dnspython, ~3 MB
and ~30 ms of imports, and resolv.conf read) is imported on the first zone edit or lookup, not at
start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tesserra_core.domain.domains import RecordData, RecordType
from tesserra_core.ports.dns import Soa

if TYPE_CHECKING:
    from tesserra_adapters.dns import DnspythonResolver, DnspythonZoneCodec


class OnDemandZoneCodec:
    def __init__(self) -> None:
        self._codec: DnspythonZoneCodec | None = None

    def _made(self) -> DnspythonZoneCodec:
        if self._codec is None:
            from tesserra_adapters.dns import DnspythonZoneCodec

            self._codec = DnspythonZoneCodec()
        return self._codec

    def record(self, origin: str, name: str, rtype: RecordType, ttl: int, data: str) -> RecordData:
        return self._made().record(origin, name, rtype, ttl, data)

    def parse(self, origin: str, text: str, default_ttl: int) -> list[RecordData]:
        return self._made().parse(origin, text, default_ttl)

    def render(self, origin: str, soa: Soa, default_ttl: int, records: list[RecordData]) -> str:
        return self._made().render(origin, soa, default_ttl, records)


class OnDemandResolver:
    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 2.0) -> None:
        self._nameservers = tuple(nameservers)
        self._timeout = timeout
        self._resolver: DnspythonResolver | None = None

    def _made(self) -> DnspythonResolver:
        if self._resolver is None:
            from tesserra_adapters.dns import DnspythonResolver

            self._resolver = DnspythonResolver(self._nameservers, self._timeout)
        return self._resolver

    async def txt(self, name: str) -> list[str]:
        return await self._made().txt(name)

    async def addresses(self, name: str) -> list[str]:
        return await self._made().addresses(name)
