"""In-memory repositories of mail: mailboxes and email aliases."""

from __future__ import annotations

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.mail import EmailAlias, Mailbox
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class MemoryMailboxes(_Repo):
    async def add(self, mailbox: Mailbox) -> None:
        if await self.get_by_address(mailbox.address) is not None:
            raise Conflict(f"address: the mailbox {mailbox.address} already exists", code="mailbox_exists")
        self._put(self._store.mailboxes, mailbox.id, mailbox)

    async def get(self, tenant_id: str, mailbox_id: str) -> Mailbox | None:
        return self._owned(self._store.mailboxes, tenant_id, mailbox_id)

    async def get_by_address(self, address: str) -> Mailbox | None:
        return next((m for m in self._store.mailboxes.values() if m.address == address), None)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Mailbox], int]:
        mine = [m for m in self._store.mailboxes.values() if m.tenant_id == tenant_id]
        return page.window(sorted(mine, key=lambda m: m.address))

    async def count(self, tenant_id: str) -> int:
        return sum(1 for m in self._store.mailboxes.values() if m.tenant_id == tenant_id)

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        return sum(1 for m in self._store.mailboxes.values() if m.tenant_id == tenant_id and m.domain_id == domain_id)

    async def update(self, mailbox: Mailbox) -> None:
        if self._is_current(self._store.mailboxes, mailbox):
            self._put(self._store.mailboxes, mailbox.id, mailbox)

    async def delete(self, tenant_id: str, mailbox_id: str) -> bool:
        return self._pop_owned(self._store.mailboxes, tenant_id, mailbox_id)


class MemoryEmailAliases(_Repo):
    async def add(self, alias: EmailAlias) -> None:
        if await self.get_by_source(alias.source) is not None:
            raise Conflict(f"source: an alias of {alias.source} already exists", code="alias_exists")
        self._put(self._store.email_aliases, alias.id, alias)

    async def get(self, tenant_id: str, alias_id: str) -> EmailAlias | None:
        return self._owned(self._store.email_aliases, tenant_id, alias_id)

    async def get_by_source(self, source: str) -> EmailAlias | None:
        return next((a for a in self._store.email_aliases.values() if a.source == source), None)

    async def all(self, tenant_id: str) -> list[EmailAlias]:
        mine = [a for a in self._store.email_aliases.values() if a.tenant_id == tenant_id]
        return sorted(mine, key=lambda a: a.source)

    async def count_for_domain(self, tenant_id: str, domain_id: str) -> int:
        aliases = self._store.email_aliases.values()
        return sum(1 for a in aliases if a.tenant_id == tenant_id and a.domain_id == domain_id)

    async def update(self, alias: EmailAlias) -> None:
        if self._is_current(self._store.email_aliases, alias):
            self._put(self._store.email_aliases, alias.id, alias)

    async def delete(self, tenant_id: str, alias_id: str) -> bool:
        return self._pop_owned(self._store.email_aliases, tenant_id, alias_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[EmailAlias], int]:
        return page.window(await self.all(tenant_id))
