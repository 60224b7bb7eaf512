"""Mailboxes and aliases, on the tenant's verified domains only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.domains import Domain
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.mail import (
    DEFAULT_QUOTA,
    DESTINATIONS,
    MAIL_ADDRESS,
    QUOTA,
    EmailAlias,
    Mailbox,
    check_no_loop,
    check_quota,
    domain_of,
    normalize_address,
    normalize_destinations,
)
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, Text
from tesserra_core.errors import Conflict, NotFound, Unprocessable, found
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.security import PasswordHasher
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.tenants import PASSWORD_META, check_password
from tesserra_core.usecases.views import View


class MailboxView(View[Mailbox], frozen=True):
    """A mailbox; its password (even hashed) is never shown."""

    id: str
    domain_id: str
    address: str
    quota_bytes: int
    created_at: datetime
    updated_at: datetime


class MailboxWithPassword(MailboxView, frozen=True, omit_defaults=True):
    """A mailbox just created or given a new password. ``password`` is the one the server generated when
    the caller gave none, shown this once and never again; absent when the caller chose it."""

    password: str | None = None

    @classmethod
    def once(cls, mailbox: Mailbox, generated: str | None) -> MailboxWithPassword:
        return cls.read(mailbox, password=generated)


GENERATED_PASSWORD_BYTES = 18
"""A generated mailbox password: 144 random bits, URL-safe (24 characters, easy to paste into a mail
client)."""


class EmailAliasView(View[EmailAlias], frozen=True):
    id: str
    domain_id: str
    source: str
    destinations: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: EmailAlias) -> EmailAliasView:
        return cls.read(a, destinations=list(a.destinations))


_PASSWORD_DOC = msgspec.Meta(
    description="Stored as an argon2id hash. Left out: the server generates a strong one and answers it once"
)


class NewMailbox(Input, frozen=True, forbid_unknown_fields=True):
    address: Annotated[str, MAIL_ADDRESS]
    password: Annotated[Text, PASSWORD_META, _PASSWORD_DOC] | None = None
    quota_bytes: Annotated[int, QUOTA] = DEFAULT_QUOTA


class MailboxChanges(Input, frozen=True, forbid_unknown_fields=True):
    quota_bytes: Annotated[int, QUOTA]


class MailboxPassword(Input, frozen=True, forbid_unknown_fields=True):
    password: Annotated[Text, PASSWORD_META, _PASSWORD_DOC] | None = None


@dataclass(frozen=True, slots=True)
class MailboxPasswords:
    """A mailbox's password: the one given (checked), or a strong one generated, to be shown once."""

    hasher: PasswordHasher
    secrets: SecretGenerator

    async def hashed(self, given: str | None) -> tuple[str, str | None]:
        """The hash to store, and the generated password to show (None when one was given)."""
        if given is not None:
            return await self.hasher.hash(check_password(given)), None
        generated = self.secrets.token(GENERATED_PASSWORD_BYTES)
        return await self.hasher.hash(generated), generated


class NewEmailAlias(Input, frozen=True, forbid_unknown_fields=True):
    source: Annotated[str, MAIL_ADDRESS, msgspec.Meta(examples=["vendas@example.com"])]
    destinations: Annotated[
        list[Annotated[str, MAIL_ADDRESS]],
        DESTINATIONS,
        msgspec.Meta(examples=[["ana@example.com", "bruno@gmail.com"]]),
    ]


class EmailAliasChanges(Input, frozen=True, forbid_unknown_fields=True):
    destinations: Annotated[list[Annotated[str, MAIL_ADDRESS]], DESTINATIONS]


async def verified_domain_for(uow: UnitOfWork, actor: Principal, address: str, field: str) -> Domain:
    """The tenant's verified domain that ``address`` belongs to: 404 if the tenant has no such
    domain (another tenant's looks the same), 422 if it is not verified yet."""
    domain = found(
        await uow.domains.get_by_name(actor.tenant_id, domain_of(address)),
        f"{field}: no such domain in this tenant: {domain_of(address)}",
        code="domain_not_found",
    )
    if not domain.verified:
        raise Unprocessable(
            f"{field}: the domain {domain.name} is not verified; publish its TXT challenge and verify it first",
            code="domain_not_verified",
        )
    return domain


@dataclass(frozen=True, slots=True)
class ListMailboxes:
    """The tenant's mailboxes, by address."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[MailboxView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.mailboxes.list(actor.tenant_id, page), MailboxView.of)


async def _mailbox(uow: UnitOfWork, actor: Principal, mailbox_id: str) -> Mailbox:
    return found(await uow.mailboxes.get(actor.tenant_id, mailbox_id), "no such mailbox", code="mailbox_not_found")


@dataclass(frozen=True, slots=True)
class GetMailbox:
    """One mailbox of the tenant."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, mailbox_id: str) -> MailboxView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return MailboxView.of(await _mailbox(uow, actor, mailbox_id))


@dataclass(frozen=True, slots=True)
class CreateMailbox:
    """Create a mailbox on one of the tenant's verified domains (``domain_not_verified`` until it is). The
    password is stored as an argon2id hash; given none, the server generates a strong one and answers it
    this once (``password``)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    passwords: MailboxPasswords
    entitlements: Entitlements
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewMailbox) -> MailboxWithPassword:
        actor.require(self.scope)
        address = normalize_address(cmd.address)
        quota = check_quota(cmd.quota_bytes)
        password_hash, generated = await self.passwords.hashed(cmd.password)
        entitlement = await self.entitlements.of(actor.tenant_id)
        now = self.clock.now()
        async with self.uow() as uow:
            domain = await verified_domain_for(uow, actor, address, "address")
            if await uow.email_aliases.get_by_source(address) is not None:
                raise Conflict(f"address: {address} is already an alias", code="address_taken")
            await uow.tenants.lock(actor.tenant_id)  # the count below holds until commit
            entitlement.allow("mailboxes", await uow.mailboxes.count(actor.tenant_id))
            mailbox = Mailbox(
                id=self.ids.new(),
                tenant_id=actor.tenant_id,
                domain_id=domain.id,
                address=address,
                password_hash=password_hash,
                quota_bytes=quota,
                created_at=now,
                updated_at=now,
            )
            await uow.mailboxes.add(mailbox)
            await uow.commit()
        return MailboxWithPassword.once(mailbox, generated)


@dataclass(frozen=True, slots=True)
class UpdateMailbox:
    """Change a mailbox's quota."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, mailbox_id: str, cmd: MailboxChanges) -> MailboxView:
        actor.require(self.scope)
        quota = check_quota(cmd.quota_bytes)
        async with self.uow() as uow:
            mailbox = msgspec.structs.replace(
                await _mailbox(uow, actor, mailbox_id), quota_bytes=quota, updated_at=self.clock.now()
            )
            await uow.mailboxes.update(mailbox)
            await uow.commit()
        return MailboxView.of(mailbox)


@dataclass(frozen=True, slots=True)
class ResetMailboxPassword:
    """Set a mailbox's password (stored as an argon2id hash); given none, the server generates a strong one
    and answers it this once (``password``)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    passwords: MailboxPasswords
    clock: Clock

    async def __call__(self, actor: Principal, mailbox_id: str, cmd: MailboxPassword) -> MailboxWithPassword:
        actor.require(self.scope)
        password_hash, generated = await self.passwords.hashed(cmd.password)
        async with self.uow() as uow:
            mailbox = msgspec.structs.replace(
                await _mailbox(uow, actor, mailbox_id), password_hash=password_hash, updated_at=self.clock.now()
            )
            await uow.mailboxes.update(mailbox)
            await uow.commit()
        return MailboxWithPassword.once(mailbox, generated)


@dataclass(frozen=True, slots=True)
class DeleteMailbox:
    """Delete a mailbox."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, mailbox_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            if not await uow.mailboxes.delete(actor.tenant_id, mailbox_id):
                raise NotFound("no such mailbox", code="mailbox_not_found")
            await uow.commit()


async def _alias(uow: UnitOfWork, actor: Principal, alias_id: str) -> EmailAlias:
    return found(await uow.email_aliases.get(actor.tenant_id, alias_id), "no such alias", code="alias_not_found")


async def _check_loop(uow: UnitOfWork, actor: Principal, source: str, destinations: tuple[str, ...]) -> None:
    """Loops are looked for among the tenant's own aliases (another tenant's are not disclosed;
    a loop across tenants is cut by the mail server's hop limit)."""
    others = {a.source: a.destinations for a in await uow.email_aliases.all(actor.tenant_id) if a.source != source}
    check_no_loop(source, destinations, others)


@dataclass(frozen=True, slots=True)
class ListEmailAliases:
    """The tenant's e-mail aliases, by source."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[EmailAliasView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.email_aliases.list(actor.tenant_id, page), EmailAliasView.of)


@dataclass(frozen=True, slots=True)
class GetEmailAlias:
    """One e-mail alias of the tenant."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, alias_id: str) -> EmailAliasView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return EmailAliasView.of(await _alias(uow, actor, alias_id))


@dataclass(frozen=True, slots=True)
class CreateEmailAlias:
    """Forward a source address (on a verified domain of the tenant) to one or more addresses. A source already
    in use, or destinations that lead back to the source (a loop, directly or through the tenant's other
    aliases), are refused as conflicts."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewEmailAlias) -> EmailAliasView:
        actor.require(self.scope)
        source = normalize_address(cmd.source, "source")
        destinations = normalize_destinations(cmd.destinations)
        now = self.clock.now()
        async with self.uow() as uow:
            domain = await verified_domain_for(uow, actor, source, "source")
            if await uow.email_aliases.get_by_source(source) is not None:
                raise Conflict(f"source: an alias of {source} already exists", code="alias_exists")
            if await uow.mailboxes.get_by_address(source) is not None:
                raise Conflict(f"source: {source} is a mailbox", code="address_taken")
            await _check_loop(uow, actor, source, destinations)
            alias = EmailAlias(
                id=self.ids.new(),
                tenant_id=actor.tenant_id,
                domain_id=domain.id,
                source=source,
                destinations=destinations,
                created_at=now,
                updated_at=now,
            )
            await uow.email_aliases.add(alias)
            await uow.commit()
        return EmailAliasView.of(alias)


@dataclass(frozen=True, slots=True)
class UpdateEmailAlias:
    """Replace an alias's destinations (loops refused, as on creation)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, alias_id: str, cmd: EmailAliasChanges) -> EmailAliasView:
        actor.require(self.scope)
        destinations = normalize_destinations(cmd.destinations)
        async with self.uow() as uow:
            alias = await _alias(uow, actor, alias_id)
            await _check_loop(uow, actor, alias.source, destinations)
            alias = msgspec.structs.replace(alias, destinations=destinations, updated_at=self.clock.now())
            await uow.email_aliases.update(alias)
            await uow.commit()
        return EmailAliasView.of(alias)


@dataclass(frozen=True, slots=True)
class DeleteEmailAlias:
    """Delete an e-mail alias."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, alias_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            if not await uow.email_aliases.delete(actor.tenant_id, alias_id):
                raise NotFound("no such alias", code="alias_not_found")
            await uow.commit()


@dataclass(frozen=True, slots=True)
class Mail:
    """/api/emails (mailboxes) and /api/emails/aliases."""

    list_mailboxes: ListMailboxes
    get_mailbox: GetMailbox
    create_mailbox: CreateMailbox
    update_mailbox: UpdateMailbox
    reset_password: ResetMailboxPassword
    delete_mailbox: DeleteMailbox
    list_aliases: ListEmailAliases
    get_alias: GetEmailAlias
    create_alias: CreateEmailAlias
    update_alias: UpdateEmailAlias
    delete_alias: DeleteEmailAlias


def mail(p: Ports) -> Mail:
    passwords = MailboxPasswords(p.hasher, p.secrets)
    return Mail(
        list_mailboxes=ListMailboxes(p.uow),
        get_mailbox=GetMailbox(p.uow),
        create_mailbox=CreateMailbox(p.uow, passwords, p.entitlements, p.ids, p.clock),
        update_mailbox=UpdateMailbox(p.uow, p.clock),
        reset_password=ResetMailboxPassword(p.uow, passwords, p.clock),
        delete_mailbox=DeleteMailbox(p.uow),
        list_aliases=ListEmailAliases(p.uow),
        get_alias=GetEmailAlias(p.uow),
        create_alias=CreateEmailAlias(p.uow, p.ids, p.clock),
        update_alias=UpdateEmailAlias(p.uow, p.clock),
        delete_alias=DeleteEmailAlias(p.uow),
    )
