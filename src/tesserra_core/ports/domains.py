"""Repositories of domains, DNS records, mailboxes, aliases and project files (reached through the UnitOfWork)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tesserra_core.domain.domains import DnsRecord, Domain
from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest


class DomainRepository(Protocol):
    async def add(self, domain: Domain) -> None:
        """Raises ``Conflict`` if the name is taken, by any tenant."""
        ...

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None: ...

    async def get_by_name(self, tenant_id: str, name: str) -> Domain | None: ...

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Domain], int]:
        """A page of the tenant's domains by name, and the total."""
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


class MailboxRepository(Protocol):
    async def add(self, mailbox: Mailbox) -> None:
        """Raises ``Conflict`` if the address is taken."""
        ...

    async def get(self, tenant_id: str, mailbox_id: str) -> Mailbox | None: ...

    async def get_by_address(self, address: str) -> Mailbox | None:
        """Platform-wide (an address belongs to one domain, hence one tenant)."""
        ...

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Mailbox], int]:
        """A page by address, and the total."""
        ...

    async def count(self, tenant_id: str) -> int: ...

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int: ...

    async def update(self, mailbox: Mailbox) -> None: ...

    async def delete(self, tenant_id: str, mailbox_id: str) -> bool: ...


class EmailAliasRepository(Protocol):
    async def add(self, alias: EmailAlias) -> None:
        """Raises ``Conflict`` if the source is taken."""
        ...

    async def get(self, tenant_id: str, alias_id: str) -> EmailAlias | None: ...

    async def get_by_source(self, source: str) -> EmailAlias | None:
        """Platform-wide."""
        ...

    async def all(self, tenant_id: str) -> list[EmailAlias]: ...

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int: ...

    async def update(self, alias: EmailAlias) -> None: ...

    async def delete(self, tenant_id: str, alias_id: str) -> bool: ...

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[EmailAlias], int]:
        """A page by source, and the total."""
        ...


class ProjectFileRepository(Protocol):
    async def add(self, file: ProjectFile) -> None:
        """Raises ``Conflict`` if the project already holds a file of that name."""
        ...

    async def get(self, tenant_id: str, project_id: str, file_id: str) -> ProjectFile | None: ...

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None: ...

    async def used_bytes(self, tenant_id: str) -> int:
        """The size of every file of the tenant, summed."""
        ...

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool: ...

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        """Forget every file of a project (deleted with it); the storage keys to delete afterwards."""
        ...

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        """A page by name, and the total."""
        ...
