"""SQL repositories of mail: mailboxes and email aliases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select, update

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo as _Repo
from tesserra_adapters.sql.repository import count_of, from_row, to_values
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
        row = await self._owned(t.mailboxes, tenant_id, mailbox_id)
        return _mailbox(row) if row else None

    async def get_by_address(self, address: str) -> Mailbox | None:
        row = await self._one(select(t.mailboxes).where(t.mailboxes.c.address == address))
        return _mailbox(row) if row else None

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Mailbox], int]:
        m = t.mailboxes.c
        rows, total = await self._page(t.mailboxes, m.tenant_id == tenant_id, m.address, page)
        return [_mailbox(r) for r in rows], total

    async def count(self, tenant_id: str) -> int:
        stmt = count_of(t.mailboxes, t.mailboxes.c.tenant_id == tenant_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        m = t.mailboxes.c
        stmt = count_of(t.mailboxes, m.tenant_id == tenant_id, m.domain_id == domain_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def update(self, mailbox: Mailbox) -> None:
        m = t.mailboxes.c
        await self._conn.execute(
            update(t.mailboxes)
            .where(m.id == mailbox.id, m.tenant_id == mailbox.tenant_id)
            .values(_mailbox_values(mailbox))
        )

    async def delete(self, tenant_id: str, mailbox_id: str) -> bool:
        return await self._delete_owned(t.mailboxes, tenant_id, mailbox_id)


def _alias_values(a: EmailAlias) -> dict[str, Any]:
    return to_values(a, destinations=" ".join(a.destinations))


class SqlEmailAliases(_Repo):
    async def add(self, alias: EmailAlias) -> None:
        conflict = Conflict(f"source: an alias of {alias.source} already exists", code="alias_exists")
        await self._insert(t.email_aliases, _alias_values(alias), conflict)

    async def get(self, tenant_id: str, alias_id: str) -> EmailAlias | None:
        row = await self._owned(t.email_aliases, tenant_id, alias_id)
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
        stmt = count_of(t.email_aliases, a.tenant_id == tenant_id, a.domain_id == domain_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def update(self, alias: EmailAlias) -> None:
        a = t.email_aliases.c
        await self._conn.execute(
            update(t.email_aliases).where(a.id == alias.id, a.tenant_id == alias.tenant_id).values(_alias_values(alias))
        )

    async def delete(self, tenant_id: str, alias_id: str) -> bool:
        return await self._delete_owned(t.email_aliases, tenant_id, alias_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[EmailAlias], int]:
        a = t.email_aliases.c
        rows, total = await self._page(t.email_aliases, a.tenant_id == tenant_id, a.source, page)
        return [_alias(r) for r in rows], total
