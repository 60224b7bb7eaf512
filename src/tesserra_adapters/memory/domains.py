"""In-memory repositories of domains, DNS records, mailboxes, aliases and project files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from tesserra_adapters.memory.base import _page, _Repo
from tesserra_core.domain.domains import DnsRecord, Domain
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class _TableRepo(_Repo):
    def _pop(self, table: dict[str, Any], key: str) -> bool:
        if key not in table:
            return False
        old = table.pop(key)

        def undo() -> None:
            table[key] = old

        self._journal.append(undo)
        return True


class MemoryDomains(_TableRepo):
    async def add(self, domain: Domain) -> None:
        if any(d.name == domain.name for d in self._store.domains.values()):
            raise Conflict(f"name: the domain {domain.name} is already registered", code="domain_taken")
        self._put(self._store.domains, domain.id, domain)

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None:
        d = self._store.domains.get(domain_id)
        return d if d is not None and d.tenant_id == tenant_id else None

    async def get_by_name(self, tenant_id: str, name: str) -> Domain | None:
        return next((d for d in self._store.domains.values() if d.name == name and d.tenant_id == tenant_id), None)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Domain], int]:
        mine = [d for d in self._store.domains.values() if d.tenant_id == tenant_id]
        return _page(sorted(mine, key=lambda d: d.name), page)

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
        if await self.get(tenant_id, domain_id) is None:
            return False
        for record_id in [r.id for r in self._store.dns_records.values() if r.domain_id == domain_id]:
            self._pop(self._store.dns_records, record_id)
        return self._pop(self._store.domains, domain_id)


def _record_order(r: DnsRecord) -> tuple[str, str, str]:
    return (r.name, r.type.value, r.id)


class MemoryDnsRecords(_TableRepo):
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
        return _page(self._zone(tenant_id, domain_id), page)


class MemoryMailboxes(_TableRepo):
    async def add(self, mailbox: Mailbox) -> None:
        if await self.get_by_address(mailbox.address) is not None:
            raise Conflict(f"address: the mailbox {mailbox.address} already exists", code="mailbox_exists")
        self._put(self._store.mailboxes, mailbox.id, mailbox)

    async def get(self, tenant_id: str, mailbox_id: str) -> Mailbox | None:
        m = self._store.mailboxes.get(mailbox_id)
        return m if m is not None and m.tenant_id == tenant_id else None

    async def get_by_address(self, address: str) -> Mailbox | None:
        return next((m for m in self._store.mailboxes.values() if m.address == address), None)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Mailbox], int]:
        mine = [m for m in self._store.mailboxes.values() if m.tenant_id == tenant_id]
        return _page(sorted(mine, key=lambda m: m.address), page)

    async def count(self, tenant_id: str) -> int:
        return sum(1 for m in self._store.mailboxes.values() if m.tenant_id == tenant_id)

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        return sum(1 for m in self._store.mailboxes.values() if m.tenant_id == tenant_id and m.domain_id == domain_id)

    async def update(self, mailbox: Mailbox) -> None:
        if await self.get(mailbox.tenant_id, mailbox.id) is not None:
            self._put(self._store.mailboxes, mailbox.id, mailbox)

    async def delete(self, tenant_id: str, mailbox_id: str) -> bool:
        if await self.get(tenant_id, mailbox_id) is None:
            return False
        return self._pop(self._store.mailboxes, mailbox_id)


class MemoryEmailAliases(_TableRepo):
    async def add(self, alias: EmailAlias) -> None:
        if await self.get_by_source(alias.source) is not None:
            raise Conflict(f"source: an alias of {alias.source} already exists", code="alias_exists")
        self._put(self._store.email_aliases, alias.id, alias)

    async def get(self, tenant_id: str, alias_id: str) -> EmailAlias | None:
        a = self._store.email_aliases.get(alias_id)
        return a if a is not None and a.tenant_id == tenant_id else None

    async def get_by_source(self, source: str) -> EmailAlias | None:
        return next((a for a in self._store.email_aliases.values() if a.source == source), None)

    async def all(self, tenant_id: str) -> list[EmailAlias]:
        mine = [a for a in self._store.email_aliases.values() if a.tenant_id == tenant_id]
        return sorted(mine, key=lambda a: a.source)

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        aliases = self._store.email_aliases.values()
        return sum(1 for a in aliases if a.tenant_id == tenant_id and a.domain_id == domain_id)

    async def update(self, alias: EmailAlias) -> None:
        if await self.get(alias.tenant_id, alias.id) is not None:
            self._put(self._store.email_aliases, alias.id, alias)

    async def delete(self, tenant_id: str, alias_id: str) -> bool:
        if await self.get(tenant_id, alias_id) is None:
            return False
        return self._pop(self._store.email_aliases, alias_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[EmailAlias], int]:
        return _page(await self.all(tenant_id), page)


class MemoryProjectFiles(_TableRepo):
    async def add(self, file: ProjectFile) -> None:
        if await self.get_by_name(file.tenant_id, file.project_id, file.name) is not None or any(
            f.project_id == file.project_id and f.name == file.name for f in self._store.project_files.values()
        ):
            raise Conflict(f"filename: the project already holds a file named {file.name!r}", code="file_exists")
        self._put(self._store.project_files, file.id, file)

    async def get(self, tenant_id: str, project_id: str, file_id: str) -> ProjectFile | None:
        f = self._store.project_files.get(file_id)
        return f if f is not None and f.tenant_id == tenant_id and f.project_id == project_id else None

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None:
        files = self._store.project_files.values()
        return next(
            (f for f in files if f.tenant_id == tenant_id and f.project_id == project_id and f.name == name), None
        )

    async def used_bytes(self, tenant_id: str) -> int:
        return sum(f.size for f in self._store.project_files.values() if f.tenant_id == tenant_id)

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool:
        if await self.get(tenant_id, project_id, file_id) is None:
            return False
        return self._pop(self._store.project_files, file_id)

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        files = self._store.project_files.values()
        mine = [f for f in files if f.tenant_id == tenant_id and f.project_id == project_id]
        for f in mine:
            self._pop(self._store.project_files, f.id)
        return [f.storage_key for f in mine]

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        mine = [
            f for f in self._store.project_files.values() if f.tenant_id == tenant_id and f.project_id == project_id
        ]
        return _page(sorted(mine, key=lambda f: f.name), page)
