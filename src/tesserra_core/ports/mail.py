"""Repositories of mailboxes and email aliases (reached through the UnitOfWork)."""

from __future__ import annotations

from typing import Protocol

from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest


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
