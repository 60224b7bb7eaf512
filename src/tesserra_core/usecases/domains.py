"""Domains: claim a name, change its default TTL, delete it, prove ownership by a TXT challenge, and
report DNS health; and the ZoneEditor, the one way a zone changes. Records and zone files: zones.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, TypeVar

import msgspec

from tesserra_core.domain.domains import (
    DEFAULT_TTL,
    DOMAIN_NAME,
    TTL_META,
    DnsRecord,
    Domain,
    DomainFilter,
    VerificationStatus,
    check_ttl,
    check_zone,
    next_serial,
    normalize_domain_name,
)
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input
from tesserra_core.errors import Conflict, Unavailable, found
from tesserra_core.ports import Ports
from tesserra_core.ports.dns import DnsResolver
from tesserra_core.ports.health import Health
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.health import HealthItem
from tesserra_core.usecases.views import View

T = TypeVar("T")

TOKEN_BYTES = 24
RESOLVER_TIME_LIMIT = 3.0
"""Seconds a verification or health check waits for the resolver before giving up."""


class VerificationRecord(msgspec.Struct, frozen=True):
    """The TXT record that proves ownership: publish it, then call verify."""

    name: str
    type: str
    value: str


class DomainView(View[Domain], frozen=True):
    id: str
    name: str
    default_ttl: int
    serial: int
    verification_status: VerificationStatus
    verification_record: VerificationRecord
    verified_at: datetime | None
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Domain) -> DomainView:
        return cls.read(d, verification_record=VerificationRecord(d.challenge_name, "TXT", d.verification_token))


class NewDomain(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, DOMAIN_NAME]
    default_ttl: Annotated[int, TTL_META, msgspec.Meta(description="$TTL of the zone and the TTL of new records")] = (
        DEFAULT_TTL
    )


class DomainChanges(Input, frozen=True, forbid_unknown_fields=True):
    default_ttl: Annotated[int, TTL_META] | None = None


async def load_domain(uow: UnitOfWork, actor: Principal, domain_id: str) -> Domain:
    return found(await uow.domains.get(actor.tenant_id, domain_id), "no such domain", code="domain_not_found")


@dataclass(frozen=True, slots=True)
class ListDomains:
    """The tenant's domains, by name, with their verification status."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(
        self, actor: Principal, page: PageRequest, where: DomainFilter | None = None
    ) -> Page[DomainView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.domains.list(actor.tenant_id, page, where), DomainView.of)


@dataclass(frozen=True, slots=True)
class GetDomain:
    """One domain of the tenant, with the TXT record that proves its ownership."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, domain_id: str) -> DomainView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return DomainView.of(await load_domain(uow, actor, domain_id))


@dataclass(frozen=True, slots=True)
class CreateDomain:
    """Claim a domain name (unique on the whole platform). It starts ``pending``: publish the TXT record shown
    in ``verification_record``, then have it verified."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    entitlements: Entitlements
    ids: IdFactory
    secrets: SecretGenerator
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewDomain) -> DomainView:
        actor.require(self.scope)
        name = normalize_domain_name(cmd.name)
        ttl = check_ttl(cmd.default_ttl, "default_ttl")
        now = self.clock.now()
        domain = Domain(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            name=name,
            default_ttl=ttl,
            serial=next_serial(0, now.date()),
            verification_token=self.secrets.token(TOKEN_BYTES),
            verification_status=VerificationStatus.PENDING,
            verified_at=None,
            last_checked_at=None,
            created_at=now,
            updated_at=now,
        )
        entitlement = await self.entitlements.of(actor.tenant_id)
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)  # the count below holds until commit
            entitlement.allow("domains", await uow.domains.count(actor.tenant_id))
            await uow.domains.add(domain)
            await uow.commit()
        return DomainView.of(domain)


_FEW = 3
"""Up to this many records added or removed are written one by one; more replace the zone at once."""


@dataclass(frozen=True, slots=True)
class ZoneEditor:
    """The one way a zone changes: lock it by moving its serial, apply, check the whole zone, store."""

    uow: UnitOfWorkFactory
    clock: Clock

    async def edit(
        self,
        actor: Principal,
        domain_id: str,
        change: Callable[[Domain, list[DnsRecord]], list[DnsRecord]],
        retune: Callable[[Domain], Domain] | None = None,
    ) -> tuple[Domain, list[DnsRecord]]:
        """``change`` maps the zone's records to the new ones; ``retune`` changes the domain's own fields."""
        actor.require(Scope.DOMAINS_WRITE)
        now = self.clock.now()
        async with self.uow() as uow:
            domain = await load_domain(uow, actor, domain_id)
            bumped = await uow.domains.bump_serial(actor.tenant_id, domain_id, next_serial(0, now.date()), now)
            serial = found(bumped, "no such domain", code="domain_not_found")
            domain = msgspec.structs.replace(domain, serial=serial, updated_at=now)
            if retune is not None:
                domain = retune(domain)
                await uow.domains.update(domain)
            before = await uow.dns_records.all(actor.tenant_id, domain_id)
            after = change(domain, before)
            check_zone(r.content for r in after)
            await self._store(uow, actor.tenant_id, domain_id, before, after)
            await uow.commit()
        return domain, after

    @staticmethod
    async def _store(
        uow: UnitOfWork, tenant_id: str, domain_id: str, before: list[DnsRecord], after: list[DnsRecord]
    ) -> None:
        old = {r.id: r for r in before}
        new = {r.id: r for r in after}
        if len(old.keys() - new.keys()) + len(new.keys() - old.keys()) > _FEW:  # an import: swap the zone
            await uow.dns_records.replace_all(tenant_id, domain_id, after)
            return
        for record_id in old.keys() - new.keys():
            await uow.dns_records.delete(tenant_id, domain_id, record_id)
        for record_id, record in new.items():
            if record_id not in old:
                await uow.dns_records.add(record)
            elif old[record_id] != record:
                await uow.dns_records.update(record)


@dataclass(frozen=True, slots=True)
class UpdateDomain:
    """Change a domain's default TTL (the zone's $TTL, and the TTL new records get)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE  # checked by the zone editor, which it calls

    editor: ZoneEditor

    async def __call__(self, actor: Principal, domain_id: str, cmd: DomainChanges) -> DomainView:
        ttl = check_ttl(cmd.default_ttl, "default_ttl") if cmd.default_ttl is not None else None

        def retune(domain: Domain) -> Domain:
            return domain if ttl is None else msgspec.structs.replace(domain, default_ttl=ttl)

        domain, _ = await self.editor.edit(actor, domain_id, lambda _, records: records, retune)
        return DomainView.of(domain)


@dataclass(frozen=True, slots=True)
class DeleteDomain:
    """Delete a domain and its records; refused while mailboxes or aliases use it (``domain_in_use``)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, domain_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            domain = await load_domain(uow, actor, domain_id)
            in_use = await uow.mailboxes.count_for_domain(actor.tenant_id, domain.id)
            in_use += await uow.email_aliases.count_for_domain(actor.tenant_id, domain.id)
            if in_use:
                raise Conflict(
                    f"the domain still has {in_use} mailboxes or aliases; delete them first", code="domain_in_use"
                )
            await uow.domains.delete(actor.tenant_id, domain_id)
            await uow.commit()


async def _within(limit: float, call: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(call, limit)
    except TimeoutError:
        raise Unavailable("the DNS resolver did not answer in time", code="dns_timeout") from None


@dataclass(frozen=True, slots=True)
class VerifyDomain:
    """Check a domain's ownership now: look up the TXT record ``_tesserra-challenge.<domain>``. The domain is
    ``verified`` if it holds the token, ``failed`` otherwise (even one verified before: ownership must stay
    provable). A resolver that does not answer in time changes nothing (``dns_timeout``)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    uow: UnitOfWorkFactory
    resolver: DnsResolver
    clock: Clock
    time_limit: float = RESOLVER_TIME_LIMIT

    async def __call__(self, actor: Principal, domain_id: str) -> DomainView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            domain = await load_domain(uow, actor, domain_id)
        values = await _within(self.time_limit, self.resolver.txt(domain.challenge_name))
        now = self.clock.now()
        async with self.uow() as uow:
            current = await load_domain(uow, actor, domain_id)
            if domain.verification_token in values:
                checked = msgspec.structs.replace(
                    current,
                    verification_status=VerificationStatus.VERIFIED,
                    verified_at=current.verified_at if current.verified else now,
                    last_checked_at=now,
                )
            else:
                checked = msgspec.structs.replace(
                    current, verification_status=VerificationStatus.FAILED, verified_at=None, last_checked_at=now
                )
            await uow.domains.update(checked)
            await uow.commit()
        return DomainView.of(checked)


@dataclass(frozen=True, slots=True)
class DomainHealthSource:
    """The tenant's domains as a health source (``TenantHealth``): each one ``ok`` when verified and
    resolving, ``degraded`` when unverified or without an address, ``down`` when the resolver
    cannot answer in time. Checked concurrently: the whole call takes about ``time_limit`` at most."""

    uow: UnitOfWorkFactory
    resolver: DnsResolver
    clock: Clock
    time_limit: float = RESOLVER_TIME_LIMIT
    max_domains: int = 100

    async def check(self, tenant_id: str) -> list[HealthItem]:
        async with self.uow(read_only=True) as uow:
            domains, _ = await uow.domains.list(tenant_id, PageRequest(self.max_domains, 0))
        return list(await asyncio.gather(*(self._check(d) for d in domains)))

    async def _check(self, domain: Domain) -> HealthItem:
        reasons = []
        status = Health.OK
        try:
            addresses: list[str] | None = await _within(self.time_limit, self.resolver.addresses(domain.name))
        except Unavailable as exc:
            addresses, status = None, Health.DOWN
            reasons.append(exc.message)
        if not domain.verified:
            reasons.append(f"ownership is {domain.verification_status.value}")
        if addresses is not None and not addresses:
            reasons.append(f"{domain.name} has no A or AAAA record")
        if reasons and status is Health.OK:
            status = Health.DEGRADED
        return HealthItem(
            kind="domain",
            id=domain.id,
            name=domain.name,
            status=status,
            state=domain.verification_status.value,
            checked_at=self.clock.now(),
            reasons=reasons,
        )


@dataclass(frozen=True, slots=True)
class Domains:
    """/api/dominios."""

    list: ListDomains
    get: GetDomain
    create: CreateDomain
    update: UpdateDomain
    delete: DeleteDomain
    verify: VerifyDomain


def domains(p: Ports) -> Domains:
    return Domains(
        list=ListDomains(p.uow),
        get=GetDomain(p.uow),
        create=CreateDomain(p.uow, p.entitlements, p.ids, p.secrets, p.clock),
        update=UpdateDomain(ZoneEditor(p.uow, p.clock)),
        delete=DeleteDomain(p.uow),
        verify=VerifyDomain(p.uow, p.resolver, p.clock),
    )
