"""In-memory repositories of domains and their DNS records."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.domains import DnsRecord, Domain, DomainFilter
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class MemoryDomains(_Repo):
    async def add(self, domain: Domain) -> None:
        if any(d.name == domain.name for d in self._store.domains.values()):
            raise Conflict(f"name: the domain {domain.name} is already registered", code="domain_taken")
        self._put(self._store.domains, domain.id, domain)

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None:
        return self._owned(self._store.domains, tenant_id, domain_id)

    async def get_by_name(self, tenant_id: str, name: str) -> Domain | None:
        return next((d for d in self._store.domains.values() if d.name == name and d.tenant_id == tenant_id), None)

    async def list(
        self, tenant_id: str, page: PageRequest, where: DomainFilter | None = None
    ) -> tuple[list[Domain], int]:
        where = where or DomainFilter()
        needle = where.name.lower() if where.name else ""
        mine = [
            d
            for d in self._store.domains.values()
            if d.tenant_id == tenant_id
            and needle in d.name
            and (where.status is None or d.verification_status is where.status)
        ]
        return page.window(sorted(mine, key=lambda d: d.name))

    async def count(self, tenant_id: str) -> int:
        return sum(1 for d in self._store.domains.values() if d.tenant_id == tenant_id)

    async def update(self, domain: Domain) -> None:
        old = await self.get(domain.tenant_id, domain.id)
        if old is not None:
            self._put(self._store.domains, domain.id, msgspec.structs.replace(domain, serial=old.serial))

    async def bump_serial(self, tenant_id: str, domain_id: str, first_today: int, at: datetime) -> int | None:
        old = await self.get(tenant_id, domain_id)
        if old is None:
            return None
        serial = old.serial + 1 if old.serial >= first_today else first_today
        self._put(self._store.domains, domain_id, msgspec.structs.replace(old, serial=serial, updated_at=at))
        return serial

    async def delete(self, tenant_id: str, domain_id: str) -> bool:
        if not self._pop_owned(self._store.domains, tenant_id, domain_id):
            return False
        for record_id in [r.id for r in self._store.dns_records.values() if r.domain_id == domain_id]:
            self._pop(self._store.dns_records, record_id)
        return True


def _record_order(r: DnsRecord) -> tuple[str, str, str]:
    return (r.name, r.type.value, r.id)


class MemoryDnsRecords(_Repo):
    def _zone(self, tenant_id: str, domain_id: str) -> list[DnsRecord]:
        found = [r for r in self._store.dns_records.values() if r.tenant_id == tenant_id and r.domain_id == domain_id]
        return sorted(found, key=_record_order)

    async def add(self, record: DnsRecord) -> None:
        if record.id in self._store.dns_records:
            raise Conflict("record exists", code="record_exists")
        self._put(self._store.dns_records, record.id, record)

    async def get(self, tenant_id: str, domain_id: str, record_id: str) -> DnsRecord | None:
        r = self._store.dns_records.get(record_id)
        return r if r is not None and r.tenant_id == tenant_id and r.domain_id == domain_id else None

    async def all(self, tenant_id: str, domain_id: str) -> list[DnsRecord]:
        return self._zone(tenant_id, domain_id)

    async def update(self, record: DnsRecord) -> None:
        if await self.get(record.tenant_id, record.domain_id, record.id) is not None:
            self._put(self._store.dns_records, record.id, record)

    async def delete(self, tenant_id: str, domain_id: str, record_id: str) -> bool:
        if await self.get(tenant_id, domain_id, record_id) is None:
            return False
        return self._pop(self._store.dns_records, record_id)

    async def replace_all(self, tenant_id: str, domain_id: str, records: list[DnsRecord]) -> None:
        for old in self._zone(tenant_id, domain_id):
            self._pop(self._store.dns_records, old.id)
        for record in records:
            await self.add(record)

    async def list(self, tenant_id: str, domain_id: str, page: PageRequest) -> tuple[list[DnsRecord], int]:
        return page.window(self._zone(tenant_id, domain_id))
