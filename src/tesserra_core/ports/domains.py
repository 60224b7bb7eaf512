"""Repositories of domains and their DNS records (reached through the UnitOfWork)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tesserra_core.domain.domains import DnsRecord, Domain, DomainFilter
from tesserra_core.domain.paging import PageRequest


class DomainRepository(Protocol):
    async def add(self, domain: Domain) -> None:
        """Raises ``Conflict`` if the name is taken, by any tenant."""
        ...

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None: ...

    async def get_by_name(self, tenant_id: str, name: str) -> Domain | None: ...

    async def list(
        self, tenant_id: str, page: PageRequest, where: DomainFilter | None = None
    ) -> tuple[list[Domain], int]:
        """A page of the tenant's domains by name (those ``where`` keeps: a case-insensitive name substring,
        a verification status), and the total."""
        ...

    async def count(self, tenant_id: str) -> int: ...

    async def update(self, domain: Domain) -> None:
        """Stores every field but ``serial`` (which only ``bump_serial`` moves)."""
        ...

    async def bump_serial(self, tenant_id: str, domain_id: str, first_today: int, at: datetime) -> int | None:
        """Atomically set the SOA serial to ``first_today`` or, if it is already there or past it,
        one more; record ``at`` as the update time. Holds the domain's row until the end of the
        unit of work, so changes to one zone serialize. The new serial, or None if no such domain."""
        ...

    async def delete(self, tenant_id: str, domain_id: str) -> bool:
        """Deletes the domain and its records. True if it existed."""
        ...


class DnsRecordRepository(Protocol):
    async def add(self, record: DnsRecord) -> None: ...

    async def get(self, tenant_id: str, domain_id: str, record_id: str) -> DnsRecord | None: ...

    async def all(self, tenant_id: str, domain_id: str) -> list[DnsRecord]:
        """Every record of the zone, in the order of ``list``."""
        ...

    async def update(self, record: DnsRecord) -> None: ...

    async def delete(self, tenant_id: str, domain_id: str, record_id: str) -> bool: ...

    async def replace_all(self, tenant_id: str, domain_id: str, records: list[DnsRecord]) -> None:
        """The zone's records become exactly ``records``."""
        ...

    async def list(self, tenant_id: str, domain_id: str, page: PageRequest) -> tuple[list[DnsRecord], int]:
        """A page ordered by name, type and id, and the total."""
        ...
