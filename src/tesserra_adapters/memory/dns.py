"""An in-memory DNS: answers what the test published, or fails as a resolver does."""

from __future__ import annotations

import asyncio

from tesserra_core.errors import Unavailable


class MemoryResolver:
    def __init__(self) -> None:
        self.txt_records: dict[str, list[str]] = {}
        self.address_records: dict[str, list[str]] = {}
        self.down = False
        """When set, every query fails as an unreachable resolver does."""
        self.delay = 0.0
        """Seconds each answer takes (to test time limits)."""

    def publish_txt(self, name: str, *values: str) -> None:
        self.txt_records.setdefault(name.lower().rstrip("."), []).extend(values)

    def publish_address(self, name: str, *addresses: str) -> None:
        self.address_records.setdefault(name.lower().rstrip("."), []).extend(addresses)

    def clear(self) -> None:
        self.txt_records.clear()
        self.address_records.clear()

    async def _answer(self, table: dict[str, list[str]], name: str) -> list[str]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise Unavailable(f"the DNS resolver could not answer for {name}", code="dns_unavailable")
        return list(table.get(name.lower().rstrip("."), []))

    async def txt(self, name: str) -> list[str]:
        return await self._answer(self.txt_records, name)

    async def addresses(self, name: str) -> list[str]:
        return await self._answer(self.address_records, name)
