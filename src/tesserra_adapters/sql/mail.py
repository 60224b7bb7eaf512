"""SQL repositories of mail: mailboxes and email aliases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import from_row, to_values
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


def _mailbox(r: Row[Any]) -> Mailbox:
    return from_row(Mailbox, r)


def _alias(r: Row[Any]) -> EmailAlias:
    return from_row(EmailAlias, r, destinations=tuple(r.destinations.split()))


def _mailbox_values(m: Mailbox) -> dict[str, Any]:
    return to_values(m)


class SqlMailboxes(_Repo):
    async def add(self, mailbox: Mailbox) -> None:
        conflict = Conflict(f"address: the mailbox {mailbox.address} already exists", code="mailbox_exists")
        await self._insert(t.mailboxes, _mailbox_values(mailbox), conflict)

    async def get(self, tenant_id: str, mailbox_id: str) -> Mailbox | None:
        return await self._read_owned(t.mailboxes, _mailbox, tenant_id, mailbox_id)

    async def get_by_address(self, address: str) -> Mailbox | None:
        return await self._read_by(t.mailboxes, _mailbox, address=address)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Mailbox], int]:
        m = t.mailboxes.c
        return await self._page(t.mailboxes, _mailbox, page, m.tenant_id == tenant_id, m.address)

    async def count(self, tenant_id: str) -> int:
        return await self._count(t.mailboxes, t.mailboxes.c.tenant_id == tenant_id)

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        m = t.mailboxes.c
        return await self._count(t.mailboxes, m.tenant_id == tenant_id, m.domain_id == domain_id)

    async def update(self, mailbox: Mailbox) -> None:
        await self._update_owned(t.mailboxes, mailbox.tenant_id, mailbox.id, _mailbox_values(mailbox))

    async def delete(self, tenant_id: str, mailbox_id: str) -> bool:
        return await self._delete_owned(t.mailboxes, tenant_id, mailbox_id)


def _alias_values(a: EmailAlias) -> dict[str, Any]:
    return to_values(a, destinations=" ".join(a.destinations))


class SqlEmailAliases(_Repo):
    async def add(self, alias: EmailAlias) -> None:
        conflict = Conflict(f"source: an alias of {alias.source} already exists", code="alias_exists")
        await self._insert(t.email_aliases, _alias_values(alias), conflict)

    async def get(self, tenant_id: str, alias_id: str) -> EmailAlias | None:
        return await self._read_owned(t.email_aliases, _alias, tenant_id, alias_id)

    async def get_by_source(self, source: str) -> EmailAlias | None:
        return await self._read_by(t.email_aliases, _alias, source=source)

    async def all(self, tenant_id: str) -> list[EmailAlias]:
        a = t.email_aliases.c
        rows = await self._all(select(t.email_aliases).where(a.tenant_id == tenant_id).order_by(a.source))
        return [_alias(r) for r in rows]

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        a = t.email_aliases.c
        return await self._count(t.email_aliases, a.tenant_id == tenant_id, a.domain_id == domain_id)

    async def update(self, alias: EmailAlias) -> None:
        await self._update_owned(t.email_aliases, alias.tenant_id, alias.id, _alias_values(alias))

    async def delete(self, tenant_id: str, alias_id: str) -> bool:
        return await self._delete_owned(t.email_aliases, tenant_id, alias_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[EmailAlias], int]:
        a = t.email_aliases.c
        return await self._page(t.email_aliases, _alias, page, a.tenant_id == tenant_id, a.source)
