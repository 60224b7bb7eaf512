"""SQL repositories of domains and their DNS records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, insert, select, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.domains import DnsRecord, Domain, DomainFilter
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _domain(r: Row[Any]) -> Domain:
    return from_row(Domain, r)


def _record(r: Row[Any]) -> DnsRecord:
    return from_row(DnsRecord, r)


class SqlDomains(_Repo):
    async def add(self, domain: Domain) -> None:
        conflict = Conflict(f"name: the domain {domain.name} is already registered", code="domain_taken")
        await self._insert(t.domains, {**_domain_values(domain), "serial": domain.serial}, conflict)

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None:
        return await self._read_owned(t.domains, _domain, tenant_id, domain_id)

    async def get_by_name(self, tenant_id: str, name: str) -> Domain | None:
        return await self._read_by(t.domains, _domain, name=name, tenant_id=tenant_id)

    async def list(
        self, tenant_id: str, page: PageRequest, where: DomainFilter | None = None
    ) -> tuple[list[Domain], int]:
        d = t.domains.c
        clause = d.tenant_id == tenant_id
        if where is not None and where.status is not None:
            clause = and_(clause, d.verification_status == where.status.value)
        if where is not None and where.name:
            clause = and_(clause, d.name.like(_like(where.name.lower()), escape="\\"))
        return await self._page(t.domains, _domain, page, clause, d.name)

    async def count(self, tenant_id: str) -> int:
        return await self._count(t.domains, t.domains.c.tenant_id == tenant_id)

    async def update(self, domain: Domain) -> None:
        await self._update_owned(t.domains, domain.tenant_id, domain.id, _domain_values(domain))

    async def bump_serial(self, tenant_id: str, domain_id: str, first_today: int, at: datetime) -> int | None:
        d = t.domains.c
        moved = case((d.serial >= first_today, d.serial + 1), else_=first_today)
        result = await self._conn.execute(
            update(t.domains)
            .where(d.id == domain_id, d.tenant_id == tenant_id)
            .values(serial=moved, updated_at=at)
            .returning(d.serial)
        )
        row = result.first()
        return int(row.serial) if row else None

    async def delete(self, tenant_id: str, domain_id: str) -> bool:
        await self._delete_by(t.dns_records, domain_id=domain_id, tenant_id=tenant_id)
        return await self._delete_owned(t.domains, tenant_id, domain_id)


def _domain_values(domain: Domain) -> dict[str, Any]:
    return to_values(domain, omit=("serial",))


def _record_values(record: DnsRecord) -> dict[str, Any]:
    return to_values(record)


class SqlDnsRecords(_Repo):
    def _of(self, tenant_id: str, domain_id: str) -> Any:
        r = t.dns_records.c
        return (r.tenant_id == tenant_id) & (r.domain_id == domain_id)

    async def add(self, record: DnsRecord) -> None:
        await self._insert(t.dns_records, _record_values(record), Conflict("record exists", code="record_exists"))

    async def get(self, tenant_id: str, domain_id: str, record_id: str) -> DnsRecord | None:
        return await self._read_by(t.dns_records, _record, id=record_id, tenant_id=tenant_id, domain_id=domain_id)

    async def all(self, tenant_id: str, domain_id: str) -> list[DnsRecord]:
        r = t.dns_records.c
        rows = await self._all(
            select(t.dns_records).where(self._of(tenant_id, domain_id)).order_by(r.name, r.type, r.id)
        )
        return [_record(row) for row in rows]

    async def update(self, record: DnsRecord) -> None:
        r = t.dns_records.c
        await self._conn.execute(
            update(t.dns_records)
            .where(self._of(record.tenant_id, record.domain_id), r.id == record.id)
            .values(_record_values(record))
        )

    async def delete(self, tenant_id: str, domain_id: str, record_id: str) -> bool:
        return await self._delete_by(t.dns_records, id=record_id, tenant_id=tenant_id, domain_id=domain_id)

    async def replace_all(self, tenant_id: str, domain_id: str, records: list[DnsRecord]) -> None:
        await self._delete_by(t.dns_records, tenant_id=tenant_id, domain_id=domain_id)
        if records:
            await self._conn.execute(insert(t.dns_records), [_record_values(r) for r in records])

    async def list(self, tenant_id: str, domain_id: str, page: PageRequest) -> tuple[list[DnsRecord], int]:
        r = t.dns_records.c
        return await self._page(t.dns_records, _record, page, self._of(tenant_id, domain_id), r.name, r.type, r.id)
