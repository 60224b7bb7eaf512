"""SQL repositories of domains, DNS records, mailboxes, aliases and project files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, delete, func, insert, select, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_core.domain.domains import DnsRecord, Domain, RecordType, VerificationStatus
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


def _domain(r: Row[Any]) -> Domain:
    return Domain(
        id=r.id,
        tenant_id=r.tenant_id,
        name=r.name,
        default_ttl=r.default_ttl,
        serial=int(r.serial),
        verification_token=r.verification_token,
        verification_status=VerificationStatus(r.verification_status),
        verified_at=r.verified_at,
        last_checked_at=r.last_checked_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _record(r: Row[Any]) -> DnsRecord:
    return DnsRecord(
        id=r.id,
        tenant_id=r.tenant_id,
        domain_id=r.domain_id,
        name=r.name,
        type=RecordType(r.type),
        ttl=r.ttl,
        data=r.data,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _mailbox(r: Row[Any]) -> Mailbox:
    return Mailbox(
        id=r.id,
        tenant_id=r.tenant_id,
        domain_id=r.domain_id,
        address=r.address,
        password_hash=r.password_hash,
        quota_bytes=int(r.quota_bytes),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _alias(r: Row[Any]) -> EmailAlias:
    return EmailAlias(
        id=r.id,
        tenant_id=r.tenant_id,
        domain_id=r.domain_id,
        source=r.source,
        destinations=tuple(r.destinations.split()),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _file(r: Row[Any]) -> ProjectFile:
    return ProjectFile(
        id=r.id,
        tenant_id=r.tenant_id,
        project_id=r.project_id,
        name=r.name,
        size=int(r.size),
        sha256=r.sha256,
        content_type=r.content_type,
        storage_key=r.storage_key,
        created_at=r.created_at,
    )


def _count_of(table: Any, *where: Any) -> Any:
    return select(func.count()).select_from(table).where(*where)


class SqlDomains(_Repo):
    async def add(self, domain: Domain) -> None:
        conflict = Conflict(f"name: the domain {domain.name} is already registered", code="domain_taken")
        await self._insert(t.domains, {**_domain_values(domain), "serial": domain.serial}, conflict)

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None:
        d = t.domains.c
        row = await self._one(select(t.domains).where(d.id == domain_id, d.tenant_id == tenant_id))
        return _domain(row) if row else None

    async def get_by_name(self, tenant_id: str, name: str) -> Domain | None:
        d = t.domains.c
        row = await self._one(select(t.domains).where(d.name == name, d.tenant_id == tenant_id))
        return _domain(row) if row else None

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Domain], int]:
        d = t.domains.c
        rows, total = await self._page(t.domains, d.tenant_id == tenant_id, d.name, page)
        return [_domain(r) for r in rows], total

    async def count(self, tenant_id: str) -> int:
        return int((await self._conn.execute(_count_of(t.domains, t.domains.c.tenant_id == tenant_id))).scalar_one())

    async def update(self, domain: Domain) -> None:
        d = t.domains.c
        await self._conn.execute(
            update(t.domains).where(d.id == domain.id, d.tenant_id == domain.tenant_id).values(_domain_values(domain))
        )

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
        d = t.domains.c
        await self._conn.execute(
            delete(t.dns_records).where(t.dns_records.c.domain_id == domain_id, t.dns_records.c.tenant_id == tenant_id)
        )
        result = await self._conn.execute(delete(t.domains).where(d.id == domain_id, d.tenant_id == tenant_id))
        return bool(result.rowcount)


def _domain_values(domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "tenant_id": domain.tenant_id,
        "name": domain.name,
        "default_ttl": domain.default_ttl,
        "verification_token": domain.verification_token,
        "verification_status": domain.verification_status.value,
        "verified_at": domain.verified_at,
        "last_checked_at": domain.last_checked_at,
        "created_at": domain.created_at,
        "updated_at": domain.updated_at,
    }


def _record_values(record: DnsRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "tenant_id": record.tenant_id,
        "domain_id": record.domain_id,
        "name": record.name,
        "type": record.type.value,
        "ttl": record.ttl,
        "data": record.data,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


class SqlDnsRecords(_Repo):
    def _of(self, tenant_id: str, domain_id: str) -> Any:
        r = t.dns_records.c
        return (r.tenant_id == tenant_id) & (r.domain_id == domain_id)

    async def add(self, record: DnsRecord) -> None:
        await self._insert(t.dns_records, _record_values(record), Conflict("record exists", code="record_exists"))

    async def get(self, tenant_id: str, domain_id: str, record_id: str) -> DnsRecord | None:
        r = t.dns_records.c
        row = await self._one(select(t.dns_records).where(self._of(tenant_id, domain_id), r.id == record_id))
        return _record(row) if row else None

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
        r = t.dns_records.c
        result = await self._conn.execute(
            delete(t.dns_records).where(self._of(tenant_id, domain_id), r.id == record_id)
        )
        return bool(result.rowcount)

    async def replace_all(self, tenant_id: str, domain_id: str, records: list[DnsRecord]) -> None:
        await self._conn.execute(delete(t.dns_records).where(self._of(tenant_id, domain_id)))
        if records:
            await self._conn.execute(insert(t.dns_records), [_record_values(r) for r in records])

    async def list(self, tenant_id: str, domain_id: str, page: PageRequest) -> tuple[list[DnsRecord], int]:
        r = t.dns_records.c
        stmt = (
            select(t.dns_records)
            .where(self._of(tenant_id, domain_id))
            .order_by(r.name, r.type, r.id)
            .limit(page.limite)
            .offset(page.offset)
        )
        rows = await self._all(stmt)
        total = (await self._conn.execute(_count_of(t.dns_records, self._of(tenant_id, domain_id)))).scalar_one()
        return [_record(row) for row in rows], int(total)


def _mailbox_values(m: Mailbox) -> dict[str, Any]:
    return {
        "id": m.id,
        "tenant_id": m.tenant_id,
        "domain_id": m.domain_id,
        "address": m.address,
        "password_hash": m.password_hash,
        "quota_bytes": m.quota_bytes,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


class SqlMailboxes(_Repo):
    async def add(self, mailbox: Mailbox) -> None:
        conflict = Conflict(f"address: the mailbox {mailbox.address} already exists", code="mailbox_exists")
        await self._insert(t.mailboxes, _mailbox_values(mailbox), conflict)

    async def get(self, tenant_id: str, mailbox_id: str) -> Mailbox | None:
        m = t.mailboxes.c
        row = await self._one(select(t.mailboxes).where(m.id == mailbox_id, m.tenant_id == tenant_id))
        return _mailbox(row) if row else None

    async def get_by_address(self, address: str) -> Mailbox | None:
        row = await self._one(select(t.mailboxes).where(t.mailboxes.c.address == address))
        return _mailbox(row) if row else None

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Mailbox], int]:
        m = t.mailboxes.c
        rows, total = await self._page(t.mailboxes, m.tenant_id == tenant_id, m.address, page)
        return [_mailbox(r) for r in rows], total

    async def count(self, tenant_id: str) -> int:
        stmt = _count_of(t.mailboxes, t.mailboxes.c.tenant_id == tenant_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        m = t.mailboxes.c
        stmt = _count_of(t.mailboxes, m.tenant_id == tenant_id, m.domain_id == domain_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def update(self, mailbox: Mailbox) -> None:
        m = t.mailboxes.c
        await self._conn.execute(
            update(t.mailboxes)
            .where(m.id == mailbox.id, m.tenant_id == mailbox.tenant_id)
            .values(_mailbox_values(mailbox))
        )

    async def delete(self, tenant_id: str, mailbox_id: str) -> bool:
        m = t.mailboxes.c
        result = await self._conn.execute(delete(t.mailboxes).where(m.id == mailbox_id, m.tenant_id == tenant_id))
        return bool(result.rowcount)


def _alias_values(a: EmailAlias) -> dict[str, Any]:
    return {
        "id": a.id,
        "tenant_id": a.tenant_id,
        "domain_id": a.domain_id,
        "source": a.source,
        "destinations": " ".join(a.destinations),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


class SqlEmailAliases(_Repo):
    async def add(self, alias: EmailAlias) -> None:
        conflict = Conflict(f"source: an alias of {alias.source} already exists", code="alias_exists")
        await self._insert(t.email_aliases, _alias_values(alias), conflict)

    async def get(self, tenant_id: str, alias_id: str) -> EmailAlias | None:
        a = t.email_aliases.c
        row = await self._one(select(t.email_aliases).where(a.id == alias_id, a.tenant_id == tenant_id))
        return _alias(row) if row else None

    async def get_by_source(self, source: str) -> EmailAlias | None:
        row = await self._one(select(t.email_aliases).where(t.email_aliases.c.source == source))
        return _alias(row) if row else None

    async def all(self, tenant_id: str) -> list[EmailAlias]:
        a = t.email_aliases.c
        rows = await self._all(select(t.email_aliases).where(a.tenant_id == tenant_id).order_by(a.source))
        return [_alias(r) for r in rows]

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        a = t.email_aliases.c
        stmt = _count_of(t.email_aliases, a.tenant_id == tenant_id, a.domain_id == domain_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def update(self, alias: EmailAlias) -> None:
        a = t.email_aliases.c
        await self._conn.execute(
            update(t.email_aliases).where(a.id == alias.id, a.tenant_id == alias.tenant_id).values(_alias_values(alias))
        )

    async def delete(self, tenant_id: str, alias_id: str) -> bool:
        a = t.email_aliases.c
        result = await self._conn.execute(delete(t.email_aliases).where(a.id == alias_id, a.tenant_id == tenant_id))
        return bool(result.rowcount)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[EmailAlias], int]:
        a = t.email_aliases.c
        rows, total = await self._page(t.email_aliases, a.tenant_id == tenant_id, a.source, page)
        return [_alias(r) for r in rows], total


class SqlProjectFiles(_Repo):
    async def add(self, file: ProjectFile) -> None:
        values = {
            "id": file.id,
            "tenant_id": file.tenant_id,
            "project_id": file.project_id,
            "name": file.name,
            "size": file.size,
            "sha256": file.sha256,
            "content_type": file.content_type,
            "storage_key": file.storage_key,
            "created_at": file.created_at,
        }
        conflict = Conflict(f"filename: the project already holds a file named {file.name!r}", code="file_exists")
        await self._insert(t.project_files, values, conflict)

    async def get(self, tenant_id: str, project_id: str, file_id: str) -> ProjectFile | None:
        f = t.project_files.c
        row = await self._one(
            select(t.project_files).where(f.id == file_id, f.tenant_id == tenant_id, f.project_id == project_id)
        )
        return _file(row) if row else None

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None:
        f = t.project_files.c
        row = await self._one(
            select(t.project_files).where(f.name == name, f.tenant_id == tenant_id, f.project_id == project_id)
        )
        return _file(row) if row else None

    async def used_bytes(self, tenant_id: str) -> int:
        f = t.project_files.c
        stmt = select(func.coalesce(func.sum(f.size), 0)).where(f.tenant_id == tenant_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool:
        f = t.project_files.c
        result = await self._conn.execute(
            delete(t.project_files).where(f.id == file_id, f.tenant_id == tenant_id, f.project_id == project_id)
        )
        return bool(result.rowcount)

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        f = t.project_files.c
        where = (f.tenant_id == tenant_id) & (f.project_id == project_id)
        keys = [row.storage_key for row in await self._all(select(f.storage_key).where(where))]
        await self._conn.execute(delete(t.project_files).where(where))
        return keys

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        f = t.project_files.c
        where = (f.tenant_id == tenant_id) & (f.project_id == project_id)
        rows, total = await self._page(t.project_files, where, f.name, page)
        return [_file(r) for r in rows], total
